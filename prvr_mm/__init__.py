"""prvr_mm: Partially Relevant Video Retrieval (DL-DKD, DL-DKD++) for
MMEngine + mmaction2.

``import prvr_mm`` (also what ``custom_imports=dict(imports=['prvr_mm'])``
does in mmaction2's own ``tools/train.py`` / ``tools/test.py``) registers our
modules and changes nothing else in mmengine, mmaction2 or torch, apart from
these fixes of defects of the pinned stack (docs/architecture.md, "Import
side effects"; each tested in tests/test_utils/test_import_side_effects.py):

* ``check_mmcv``: fails early, with the install line, without mmcv (mmaction2
  1.2.0 imports it without declaring it);
* ``patch_missing_drn``: stub ``mmaction.models.localizers.drn`` modules when
  the mmaction2 1.2.0 wheel lacks them (open-mmlab/mmaction2#2714, fix PR
  #2721 unmerged), else ``import mmaction.models`` fails;
* ``patch_vindlu_for_transformers5``: stub mmaction2's VindLU package under
  transformers >= 5 (it imports names transformers 5 removed), else
  ``import mmaction.models`` fails;
* ``register_safe_globals``: the ``weights_only`` allow-list of the globals
  in MMEngine Runner checkpoints, and ``HistoryBuffer`` pickled without
  function references (open-mmlab/mmengine#1655, fix PR #1670 in no
  release), else no Runner checkpoint loads on torch >= 2.6.

MMEngine's checkpoint loader is left alone: our tools install the named-error
loader explicitly (:func:`prvr_mm.utils.checkpoint_loader.
register_checkpoint_loader`).
"""
# isort: skip_file
# The stack fixes must run before anything imports mmaction.models, so the
# sub-packages are imported after them (hence E402).
from .utils.compat import (check_mmcv, patch_missing_drn,
                           patch_vindlu_for_transformers5)

check_mmcv()
patch_missing_drn()
patch_vindlu_for_transformers5()

from .utils.checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

from . import apis, datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
