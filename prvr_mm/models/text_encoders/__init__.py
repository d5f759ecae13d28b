"""Per-token text encoders: sentences -> (N, L, D) token features + mask."""
from .hf_text_encoder import HFTextEncoder
from .open_clip_text_encoder import OpenCLIPTextEncoder
from .toy_text_encoder import ToyTextEncoder

__all__ = ['HFTextEncoder', 'OpenCLIPTextEncoder', 'ToyTextEncoder']
