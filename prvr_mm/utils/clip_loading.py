"""Former home of the open_clip loading path; the one CLIP builder is
:mod:`prvr_mm.models.teachers.open_clip_utils` (re-exported here so that
existing imports keep working)."""
from ..models.teachers.open_clip_utils import (TINY_CLIP_CFG, build_clip,
                                               build_open_clip, embed_dim,
                                               register_open_clip_config)

__all__ = [
    'TINY_CLIP_CFG', 'register_open_clip_config', 'build_open_clip',
    'build_clip', 'embed_dim'
]
