"""prvr_mm: Partially Relevant Video Retrieval (DL-DKD, DL-DKD++) for
MMEngine + mmaction2."""
# isort: skip_file
# The stack fixes must run before anything imports mmaction.models, so the
# sub-packages are imported after them (hence E402).
from .utils.compat import (check_mmcv, patch_missing_drn,
                           patch_vindlu_for_transformers5)

check_mmcv()
patch_missing_drn()
patch_vindlu_for_transformers5()

from .utils.checkpoint import register_safe_globals  # noqa: E402
from .utils.checkpoint_loader import register_checkpoint_loader  # noqa: E402

register_safe_globals()
register_checkpoint_loader()

from . import apis, datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
