"""Safe loading of MMEngine checkpoints, ``torch.load(weights_only=True)``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default.
MMEngine 0.10.7 Runner checkpoints hold a message hub with
:class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays/scalars, so
``--resume``, ``tools/test.py CKPT`` and ``load_from`` fail
(open-mmlab/mmengine#1655; the fix, PR #1670, is merged on main but in no
release). This is a defect of the pinned stack, fixed on ``import prvr_mm``
so that mmaction2's own tools load our checkpoints too.  Instead of
turning the safety off, :func:`register_safe_globals` adds exactly the globals
those checkpoints reference to torch's allow-list.

One more global would be needed: ``HistoryBuffer.__getstate__`` pickles its
class-level ``_statistics_methods`` (plain functions such as
``HistoryBuffer.min``), which pickle stores as ``builtins.getattr(cls,
'min')``.  Allow-listing ``getattr`` would let a crafted checkpoint fetch
any attribute of any allowed class (e.g. ``ndarray.tofile``), so instead
:func:`_history_buffer_getstate` leaves those functions out of the state:
``HistoryBuffer.__setstate__`` re-registers the defaults on load, and custom
methods are class-level registrations re-made when their module is imported.
"""
from typing import Callable, List

import numpy as np
import torch


def _numpy_reconstruct() -> List[Callable]:
    """numpy's private pickle helpers (``numpy._core`` on numpy 2)."""
    found = []
    for modname in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(modname, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        found.extend([mod._reconstruct, mod.scalar])
        break
    return found


def safe_globals() -> List[object]:
    """Globals referenced by checkpoints that this plugin's Runner writes.

    Returns:
        list: ``HistoryBuffer``, numpy's array/scalar reconstruction helpers,
        ``np.ndarray``, ``np.dtype`` and the concrete dtype classes of the
        numeric types MMEngine logs.
    """
    from mmengine.logging import HistoryBuffer
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64,
                                    np.int32, np.int64, np.bool_, np.uint8)
    ]
    return [
        HistoryBuffer, np.ndarray, np.dtype, *dtype_classes,
        *_numpy_reconstruct()
    ]


def _history_buffer_getstate(self) -> dict:
    """State of a ``HistoryBuffer`` without its statistics functions."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def register_safe_globals() -> None:
    """Make Runner checkpoints loadable with ``weights_only=True``.

    Adds :func:`safe_globals` to ``torch.serialization``'s allow-list and
    keeps function references out of pickled ``HistoryBuffer`` objects.
    """
    from mmengine.logging import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no allow-list (nor the default)
        add(safe_globals())
