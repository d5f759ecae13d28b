"""Collate PRVR samples into one tensor per input key.

MMEngine's ``pseudo_collate`` keeps a batch as lists of per-sample tensors.
From a loader worker every one of them travels on its own (a shared-memory
copy in the worker, then a file descriptor passed over a socket and mapped
in the training process): a TVR batch of 128 videos is about 640 tensors and
0.2-0.3 s of the training process' time per batch, spent waiting after the
worker has long finished.  :func:`prvr_collate` concatenates each key into
one tensor, written straight into shared memory inside a worker, and keeps
the per-sample sizes as plain lists; :class:`~prvr_mm.models.
data_preprocessors.PRVRDataPreprocessor` splits them back into views.
"""
import math
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS
from torch.utils.data import get_worker_info

#: key of the collated batch holding the per-sample sizes of every input
ITEM_SIZES = 'item_sizes'


def _concat(key: str, tensors: List[torch.Tensor]) -> torch.Tensor:
    """``tensors`` concatenated along dim 0, trailing dims zero padded to
    their maximum (queries of different token counts).

    Inside a loader worker the output lives in shared memory, so handing it
    to the training process copies nothing.
    """
    first = tensors[0]
    if any(t.dim() != first.dim() or t.dtype != first.dtype
           for t in tensors) or first.dim() == 0:
        shapes = sorted({(tuple(t.shape), str(t.dtype)) for t in tensors})
        raise ValueError(
            f"inputs['{key}'] of the samples have shapes/dtypes {shapes}; "
            'expected tensors of one dtype and rank >= 1 (rows first)')
    trailing = [
        max(t.shape[d] for t in tensors) for d in range(1, first.dim())
    ]
    rows = sum(t.shape[0] for t in tensors)
    out = None
    if get_worker_info() is not None:
        numel = rows * math.prod(trailing)
        storage = first._typed_storage()._new_shared(numel, device='cpu')
        out = first.new(storage).view(rows, *trailing)
    if all(list(t.shape[1:]) == trailing for t in tensors):
        return torch.cat(tensors, 0, out=out)
    if out is None:
        out = first.new_empty(rows, *trailing)
    out.zero_()
    start = 0
    for t in tensors:  # per sample: only shapes that differ get here
        out[(slice(start, start + len(t)), ) +
            tuple(slice(0, s) for s in t.shape[1:])] = t
        start += len(t)
    return out


# mmengine's root registry, beside ``pseudo_collate``: mmaction2 1.2's child
# registry of functions imports a module that does not exist
@FUNCTIONS.register_module()
def prvr_collate(data_batch: Sequence[dict]) -> dict:
    """Collate :class:`~prvr_mm.datasets.transforms.PackPRVRInputs` (or
    ``PackPRVRRawInputs``) outputs.

    Args:
        data_batch (Sequence[dict]): samples, each ``dict(inputs=dict(key=
            (n_i, ...) tensor), data_samples=element)``.

    Returns:
        dict: ``inputs``: per key one tensor ``(sum_i n_i, ...)``, the
        samples' rows one after the other, trailing dims zero padded to
        their maximum (``queries``: ``(sum_i n_i, max Lq, Dq)``);
        ``item_sizes``: per key the list of ``n_i``; ``data_samples``: the
        list of elements.  Feed it to ``PRVRDataPreprocessor``.

    Raises:
        ValueError: a sample lacks a key the first one has (or has more),
            or a key's tensors differ in dtype or rank.
    """
    if not data_batch:
        raise ValueError('prvr_collate got an empty batch')
    keys = list(data_batch[0]['inputs'])
    for i, sample in enumerate(data_batch):
        got = sorted(sample['inputs'])
        if got != sorted(keys):
            raise ValueError(
                f'sample {i} of the batch has inputs {got}, sample 0 has '
                f'{sorted(keys)}; every sample needs the same keys (e.g. '
                'teacher features for all videos or none)')
    inputs: Dict[str, torch.Tensor] = {}
    sizes: Dict[str, List[int]] = {}
    for key in keys:
        tensors = [sample['inputs'][key] for sample in data_batch]
        inputs[key] = _concat(key, tensors)
        sizes[key] = [len(t) for t in tensors]
    return {
        'inputs': inputs,
        ITEM_SIZES: sizes,
        'data_samples': [sample.get('data_samples') for sample in data_batch]
    }


def build_collate_fn(cfg: Optional[Union[str, dict, Callable]]) -> Callable:
    """The collate function a dataloader config names, as the Runner builds
    it (``dict(type=name, **kwargs)``, a registered name, or a callable);
    ``pseudo_collate`` when it names none.

    MMEngine's ``BaseInferencer`` takes only a name here and looks it up in
    the scope's registry; inferencers call this instead so they collate as
    the configured loaders do.
    """
    if cfg is None:
        return pseudo_collate
    if callable(cfg):
        return cfg
    kwargs = {}
    if isinstance(cfg, dict):
        kwargs = dict(cfg)
        cfg = kwargs.pop('type')
    fn = FUNCTIONS.get(cfg) if isinstance(cfg, str) else cfg
    if not callable(fn):
        raise KeyError(f'collate_fn {cfg!r} is not a registered function '
                       "(e.g. dict(type='prvr_collate'))")
    return partial(fn, **kwargs) if kwargs else fn
