"""Compatibility fixes for the pinned stack, applied on ``import prvr_mm``
(each a documented defect of mmaction2 1.2.0 with today's packages).

The mmaction2 1.2.0 wheel ships without ``mmaction/models/localizers/drn``
(upstream issue open-mmlab/mmaction2#2714), so ``import mmaction.models``
fails.  :func:`patch_missing_drn` places stub modules in ``sys.modules``
*before* mmaction2 is imported, without touching site-packages.

mmaction2 1.2.0's VindLU models (``mmaction/models/multimodal/vindlu``) are
imported whenever ``transformers>=4.28`` is installed, and they import names
that transformers 5 removed (``apply_chunking_to_forward``), so again
``import mmaction.models`` fails (no upstream issue: mmaction2 1.2.0
predates transformers 5; transformers removed the name in 5.0).
:func:`patch_vindlu_for_transformers5` stubs that package (building a
VindLU model then raises a clear error).

:func:`check_mmcv`: mmaction2 1.2.0 imports ``mmcv`` without declaring it
(STACK.md item 6).
"""
import importlib.util
import os.path as osp
import sys
import types
from typing import Optional

from ..errors import DependencyError

_DRN_PKG = 'mmaction.models.localizers.drn'
_VINDLU_PKG = 'mmaction.models.multimodal.vindlu'
_VINDLU_MODELS = ('VindLUVQA', 'VindLURetrievalMC', 'VindLURetrieval')


def _mmaction_dir() -> Optional[str]:
    """Locate the installed ``mmaction`` package without importing it."""
    spec = importlib.util.find_spec('mmaction')  # top level only: no import
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


class _MissingDRN:
    """Placeholder for mmaction2's DRN localizer absent from the wheel."""

    def __init__(self, *args, **kwargs) -> None:
        raise DependencyError(
            'mmaction2 1.2.0 was installed without '
            '`mmaction/models/localizers/drn` (open-mmlab/mmaction2#2714); '
            'prvr_mm stubbed it so that `import mmaction.models` works. '
            'Install mmaction2 from source to use the DRN localizer.')


def patch_missing_drn() -> bool:
    """Stub ``mmaction.models.localizers.drn`` when the wheel lacks it.

    Returns:
        bool: ``True`` when the stub was installed, ``False`` when mmaction2
        is absent, already imported, or ships the package.
    """
    if _DRN_PKG in sys.modules:
        return False
    root = _mmaction_dir()
    if root is None:
        return False
    if osp.isfile(osp.join(root, 'models', 'localizers', 'drn', 'drn.py')):
        return False
    pkg = types.ModuleType(_DRN_PKG)
    pkg.__path__ = []  # mark as a package
    mod = types.ModuleType(_DRN_PKG + '.drn')
    mod.DRN = _MissingDRN
    pkg.drn = mod
    pkg.DRN = _MissingDRN
    sys.modules[_DRN_PKG] = pkg
    sys.modules[_DRN_PKG + '.drn'] = mod
    return True


def _transformers_major() -> Optional[int]:
    """Major version of the installed transformers (without importing it)."""
    from importlib import metadata
    try:
        version = metadata.version('transformers')
    except metadata.PackageNotFoundError:
        return None
    head = version.split('.', 1)[0]
    return int(head) if head.isdigit() else None


def _missing_vindlu(name: str) -> type:

    class _MissingVindLU:
        """Placeholder of a VindLU model that cannot import here."""

        def __init__(self, *args, **kwargs) -> None:
            raise DependencyError(
                f'{name}: mmaction2 1.2.0\'s VindLU models do not import with '
                'transformers >= 5 (they use apply_chunking_to_forward, '
                'removed in transformers 5); prvr_mm stubbed them so that '
                '`import mmaction.models` works. Install transformers<5 '
                'to use VindLU.')

    _MissingVindLU.__name__ = _MissingVindLU.__qualname__ = name
    return _MissingVindLU


def patch_vindlu_for_transformers5() -> bool:
    """Stub mmaction2's VindLU package when transformers >= 5 is installed.

    Returns:
        bool: ``True`` when the stub was installed, ``False`` when mmaction2
        is absent or already imported, or transformers is absent or < 5.
    """
    if _VINDLU_PKG in sys.modules or 'mmaction.models' in sys.modules:
        return False
    major = _transformers_major()
    if major is None or major < 5 or _mmaction_dir() is None:
        return False
    from mmaction.registry import MODELS  # registries only, no models
    pkg = types.ModuleType(_VINDLU_PKG)
    pkg.__path__ = []
    pkg.__all__ = list(_VINDLU_MODELS)
    for name in _VINDLU_MODELS:
        stub = _missing_vindlu(name)
        setattr(pkg, name, stub)
        MODELS.register_module(name=name, module=stub, force=True)
    sys.modules[_VINDLU_PKG] = pkg
    return True


def check_mmcv() -> None:
    """Fail early, with the fix, when no ``mmcv`` distribution is installed.

    mmaction2 1.2.0 imports ``mmcv`` (``2.0.0rc4 <= mmcv < 2.2.0``) but does
    not declare it; prvr_mm does not either, so that a full ``mmcv`` already
    installed is never replaced by ``mmcv-lite`` (same package).
    """
    if importlib.util.find_spec('mmcv') is None:
        raise DependencyError(
            'prvr_mm needs mmcv (2.0.0rc4 <= mmcv < 2.2.0) for mmaction2 '
            "1.2.0: `pip install -e \".[lite]\"` installs the pure-Python "
            'mmcv-lite 2.1.0; or install full mmcv with its compiled ops')
