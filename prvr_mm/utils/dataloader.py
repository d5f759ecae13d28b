"""DataLoader settings sized to the machine (``num_workers='auto'``).

The base dataset config asks for ``num_workers='auto'``; the tools resolve
it through :func:`resolve_dataloaders` (``tools/train.py``, ``tools/test.py``)
before the Runner builds the loaders, so a number given in a config or with
``--cfg-options train_dataloader.num_workers=N`` always wins.  If you build
a Runner yourself from such a config, call :func:`resolve_dataloaders` on
it first (``torch.utils.data.DataLoader`` only takes integers).
"""
import os
from typing import Optional

import torch
from mmengine.config import Config

from ..errors import PRVRConfigError

AUTO = 'auto'
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: never more workers per process than this: an item is a few milliseconds
#: of reading and resampling, a batch is seconds of training
MAX_WORKERS = 8


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a Slurm or
    ``taskset`` allocation), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_world_size() -> int:
    """Training processes on this machine (``LOCAL_WORLD_SIZE`` from
    torchrun, ``SLURM_NTASKS_PER_NODE`` from Slurm), 1 otherwise."""
    for var in ('LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE'):
        value = os.environ.get(var, '')
        head = value.split('(')[0].split(',')[0]  # Slurm: '4(x2)' forms
        if head.isdigit() and int(head) > 0:
            return int(head)
    return 1


def auto_num_workers(cuda: Optional[bool] = None) -> int:
    """Loader worker processes per training process for this machine.

    The CPUs of the machine are shared by the local training processes.
    With CUDA the training process mostly waits for the GPU: every CPU of
    its share but one goes to the loader (at most :data:`MAX_WORKERS`).
    Without CUDA the training step itself keeps every core busy (the
    products run on ``torch.get_num_threads()`` threads), so more workers
    only steal cores from it: one worker when the share has at least two
    CPUs (it prepares the next batch while the step runs), none otherwise.

    Args:
        cuda (bool, optional): whether training runs on CUDA. Defaults to
            ``torch.cuda.is_available()``.

    Returns:
        int: the number of workers.
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    per_process = max(1, available_cpus() // local_world_size())
    if cuda:
        return max(0, min(MAX_WORKERS, per_process - 1))
    return 1 if per_process >= 2 else 0


def resolve_dataloaders(cfg: Config, cuda: Optional[bool] = None) -> Config:
    """Make the dataloader settings of ``cfg`` concrete for this machine.

    For each of ``train/val/test_dataloader``: ``num_workers='auto'``
    becomes :func:`auto_num_workers`; ``persistent_workers`` is
    dropped when there are no workers (``DataLoader`` rejects it); with CUDA
    ``pin_memory`` defaults to True (page-locked batches, copied to the GPU
    asynchronously by the data preprocessor).  Explicit values are kept.

    Args:
        cfg (Config): the config (modified in place).
        cuda (bool, optional): defaults to ``torch.cuda.is_available()``.

    Returns:
        Config: ``cfg``.
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    for key in _LOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        workers = loader.get('num_workers', 0)
        if workers == AUTO:
            workers = auto_num_workers(cuda)
        if not isinstance(workers, int) or workers < 0:
            raise PRVRConfigError(
                f'{key}.num_workers must be a non-negative int or '
                f"'{AUTO}', got {workers!r}")
        loader['num_workers'] = workers
        if workers == 0:
            loader.pop('persistent_workers', None)
            loader.pop('prefetch_factor', None)
        if cuda:
            loader.setdefault('pin_memory', True)
    return cfg
