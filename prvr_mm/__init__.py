"""prvr_mm: Partially Relevant Video Retrieval (DL-DKD, DL-DKD++) for
MMEngine + mmaction2."""
# Compatibility fixes must run before anything imports mmaction.models.
from .utils.compat import (check_mmcv, patch_missing_drn,  # noqa: I001
                           patch_vindlu_for_transformers5)

check_mmcv()
patch_missing_drn()
patch_vindlu_for_transformers5()

from .utils.checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
