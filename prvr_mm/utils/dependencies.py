"""Optional packages checked before a tool or an API entry starts its work:
a missing package is one :class:`~prvr_mm.errors.DependencyError` with the
install line, never a per-item failure (e.g. every video on a skip list).

The extras of ``setup.py`` say which install line brings which package
(:data:`OPTIONAL_PACKAGES`): ``av`` (PyAV, video decoding) and
``transformers`` (RoBERTa text features) come with ``extract``,
``faiss`` (faiss-cpu, approximate search) with ``search`` (and ``demo``),
``gradio`` (the search page) with ``demo``, ``selenium`` with ``tests``.

Usage, first thing in an entry point::

    require('av', 'tools/data/extract_clip_features.py')
"""
import importlib
import os.path as osp
from types import ModuleType
from typing import Dict, Iterable, Optional, Tuple

from ..errors import DependencyError

__all__ = ['OPTIONAL_PACKAGES', 'require', 'require_video_decoder']

#: module -> (pip package, extra of setup.py that installs it)
OPTIONAL_PACKAGES: Dict[str, Tuple[str, str]] = dict(
    av=('av', 'extract'),
    transformers=('transformers', 'extract'),
    faiss=('faiss-cpu', 'search'),
    gradio=('gradio', 'demo'),
    selenium=('selenium', 'tests'),
)


def require(module: str, what: str, extra: Optional[str] = None) -> ModuleType:
    """Import an optional package, or raise the one error that says how to
    install it.

    Args:
        module (str): the module to import, e.g. ``'av'``.
        what (str): who needs it (a tool, an option or a class), e.g.
            ``'tools/data/extract_clip_features.py'`` or ``'--serve'``.
        extra (str, optional): the extra of ``setup.py`` that installs it.
            Defaults to the one of :data:`OPTIONAL_PACKAGES`.

    Returns:
        module: the imported module.

    Raises:
        DependencyError: the module (or a module it imports) cannot be
            imported; the message names the module, the pip package and
            the install line, e.g. ``tools/data/extract_clip_features.py
            needs 'av', which is not installed: pip install -e ".[extract]"
            ...``.
    """
    package, default_extra = OPTIONAL_PACKAGES.get(module, (module, None))
    extra = extra or default_extra
    try:
        return importlib.import_module(module)
    except ImportError as err:
        fix = (f'pip install -e ".[{extra}]" (from the prvr_mm checkout; or '
               f'pip install {package})'
               if extra else f'pip install {package}')
        missing = getattr(err, 'name', None)
        cause = ('' if missing in (None, module) else
                 f' (importing it failed: {err})')
        raise DependencyError(f"{what} needs '{module}', which is not "
                              f'installed{cause}: {fix}') from err


def require_video_decoder(paths: Iterable[str], what: str) -> None:
    """Require PyAV when any of ``paths`` is a video file (frame folders
    are read with PIL and need no decoder).

    Args:
        paths (Iterable[str]): video files and / or frame folders.
        what (str): who needs them (see :func:`require`).

    Raises:
        DependencyError: a video file and no PyAV.
    """
    if any(not osp.isdir(p) for p in paths):
        require('av', what)
