"""Per-token text encoders: sentences -> (N, L, D) token features + mask."""
from .toy_text_encoder import ToyTextEncoder

__all__ = ['ToyTextEncoder']
