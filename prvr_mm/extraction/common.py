"""Plumbing shared by the feature extraction tools: resumable h5 outputs
sharded per process, skip lists, graceful Ctrl-C, torchrun set-up.

An extraction writes each item (video or caption) as soon as it is
computed and flushes the file, so an interrupted run keeps everything it
wrote and the next run with the same command skips those keys.  Under
``torchrun`` every process writes its own shard next to the output
(``<output>.rank<r>.part``); the first process merges the shards into the
output at the end (and at the start of the next run, if a run was
interrupted before merging).
"""
import datetime
import glob
import os
import os.path as osp
import signal
import sys
from typing import (Callable, Dict, Iterable, List, Optional, Sequence, Set,
                    Tuple)

import numpy as np
import torch
import torch.distributed as dist

from ..datasets.layout import write_h5


def dist_info() -> Tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the process group or the
    torchrun environment (``(0, 1, 0)`` for a plain run)."""
    if dist.is_available() and dist.is_initialized():
        return (dist.get_rank(), dist.get_world_size(),
                int(os.environ.get('LOCAL_RANK', 0)))
    return (int(os.environ.get('RANK',
                               0)), int(os.environ.get('WORLD_SIZE', 1)),
            int(os.environ.get('LOCAL_RANK', 0)))


def init_distributed(device: str) -> bool:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) with a
    long timeout: processes wait for each other only at the end.

    Returns:
        bool: whether a process group is in use.
    """
    if int(os.environ.get('WORLD_SIZE', 1)) <= 1:
        return False
    if not dist.is_initialized():
        backend = 'nccl' if device.startswith('cuda') else 'gloo'
        if device.startswith('cuda'):
            torch.cuda.set_device(torch.device(device))  # for collectives
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(days=2))
    return True


def resolve_device(device: str = 'auto') -> str:
    """``'auto'`` -> ``cuda:<LOCAL_RANK>`` when CUDA is present, else
    ``cpu``; other values are returned as given."""
    if device != 'auto':
        return device
    if torch.cuda.is_available():
        return f'cuda:{dist_info()[2] % torch.cuda.device_count()}'
    return 'cpu'


def auto_workers(device: str) -> int:
    """Decoding workers per process: the CPU cores of this process' share
    (its affinity mask over the processes of this machine, as the training
    loaders count them), one left to the model on a CPU-only run, at most
    8."""
    from ..utils.dataloader import available_cpus, local_world_size
    cores = max(1, available_cpus() // local_world_size())
    if not device.startswith('cuda'):
        cores -= 1
    return max(1, min(8, cores))


def broadcast(obj):
    """``obj`` of rank 0 on every rank (identity without a group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def plan_on_rank0(rank: int, make_plan: Callable[[], dict]) -> dict:
    """Run ``make_plan`` on rank 0 only (it reads the output files) and give
    its result to every rank; an error raised there is raised on every
    rank, so no rank waits for a plan that never comes.

    Args:
        rank (int): this process's rank.
        make_plan (callable): builds the plan (rank 0).

    Returns:
        dict: rank 0's plan.
    """
    plan = None
    if rank == 0:
        try:
            plan = make_plan()
        except Exception as e:  # noqa: BLE001 (raised on every rank)
            plan = e
    plan = broadcast(plan)
    if isinstance(plan, Exception):
        raise plan
    return plan


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class GracefulInterrupt:
    """Turn the first SIGINT (Ctrl-C) / SIGTERM into a flag checked between
    items, so the item being written is finished and the files are closed
    cleanly; a second Ctrl-C raises ``KeyboardInterrupt`` at once.

    Use as a context manager; ``stop`` tells whether a stop was requested.
    Only the main thread of the main process can install handlers; elsewhere
    it does nothing.
    """

    def __init__(self) -> None:
        self.stop = False
        self._old = {}

    def _handle(self, signum, frame) -> None:
        if self.stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop = True
        print(
            f'\n{signal.Signals(signum).name} received: finishing the '
            'current item and closing the files (Ctrl-C again to abort '
            'at once)',
            file=sys.stderr,
            flush=True)

    def __enter__(self) -> 'GracefulInterrupt':
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def ignore_sigint(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: Ctrl-C reaches the whole process
    group; workers leave it to the main process, which shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def video_loader(dataset: torch.utils.data.Dataset, workers: int, device: str,
                 prefetch_factor: int) -> torch.utils.data.DataLoader:
    """A DataLoader that decodes videos in ``workers`` processes (items are
    already batched by the dataset; Ctrl-C reaches the main process only;
    pinned memory for a CUDA model)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        worker_init_fn=ignore_sigint if workers else None,
        pin_memory=device.startswith('cuda'),
        prefetch_factor=prefetch_factor if workers else None)


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True):
    """A tqdm bar on stderr (rate and time left), or None."""
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(
        total=total, unit=unit, dynamic_ncols=True, file=sys.stderr, desc=desc)


def check_key(key: str, source: str) -> str:
    """h5 keys cannot contain ``/`` (it would create groups)."""
    if '/' in key or not key:
        raise ValueError(f'{source}: id {key!r} cannot be an h5 key '
                         "(empty or contains '/')")
    return key


class ShardedH5Output:
    """One h5 output written by one or several processes, resumable.

    Args:
        path (str): the final h5 file.
        rank (int): this process.
        world_size (int): number of processes.
    """

    def __init__(self, path: str, rank: int = 0, world_size: int = 1) -> None:
        self.path, self.rank, self.world_size = path, rank, world_size
        self.written = 0
        #: file attributes set with every write (the CLIP spec record)
        self.file_attrs: Dict[str, object] = {}

    @property
    def shard_path(self) -> str:
        """This process' file: the output itself when alone."""
        if self.world_size == 1:
            return self.path
        return f'{self.path}.rank{self.rank}.part'

    def leftover_shards(self) -> List[str]:
        """Shards of any earlier run not merged yet."""
        return sorted(glob.glob(glob.escape(self.path) + '.rank*.part'))

    def done_keys(self) -> Set[str]:
        """Keys already in the output (call after :meth:`merge`)."""
        import h5py
        if not osp.isfile(self.path):
            return set()
        try:
            with h5py.File(self.path, 'r') as f:
                return set(f.keys())
        except OSError as e:
            raise OSError(
                f'{self.path}: cannot read the existing output ({e}); it may '
                'be damaged (a killed process): move it away to start '
                'over') from e

    def rows(self, keys) -> Dict[str, int]:
        """First dimension of each of ``keys`` already in the output."""
        import h5py
        if not osp.isfile(self.path):
            return {}
        with h5py.File(self.path, 'r') as f:
            return {k: int(f[k].shape[0]) for k in keys if k in f}

    def write(self,
              items: Dict[str, np.ndarray],
              attrs: Optional[Dict[str, dict]] = None) -> None:
        """Write items (key -> array) to this process' file with the layout
        writer, with optional attributes per key (``times`` and ``duration``
        of :mod:`prvr_mm.datasets.feature_times`); the file is closed
        (everything on disk) when it returns."""
        if not items:
            return
        try:
            write_h5(self.shard_path, items, mode='a')
            attrs = dict(attrs or {})
            if self.file_attrs:
                attrs['/'] = self.file_attrs
            if attrs:
                _set_attrs(self.shard_path, attrs)
        except OSError as e:
            raise OSError(
                f'{self.shard_path}: cannot write ({e}); if the file is '
                'damaged (a killed process), move it away') from e
        self.written += len(items)

    def merge(self) -> int:
        """Copy every leftover shard's keys into the output, then delete
        the shards (rank 0 only; others return 0).

        Returns:
            int: number of keys copied.
        """
        import h5py
        shards = self.leftover_shards()
        if self.rank != 0 or not shards:
            return 0
        copied = 0
        for shard in shards:
            try:
                src = h5py.File(shard, 'r')
            except OSError as e:
                print(
                    f'WARNING: cannot read shard {shard} ({e}); its '
                    'items will be computed again',
                    file=sys.stderr)
                os.remove(shard)
                continue
            with src:
                keys = list(src.keys())
                for start in range(0, len(keys), 256):
                    part = keys[start:start + 256]
                    write_h5(
                        self.path, {k: src[k][()]
                                    for k in part}, mode='a')
                    _set_attrs(self.path, {
                        k: dict(src[k].attrs)
                        for k in part if len(src[k].attrs)
                    })
                    copied += len(part)
                if len(src.attrs):
                    _set_attrs(self.path, {'/': dict(src.attrs)})
            os.remove(shard)
        return copied


def _set_attrs(path: str, attrs: Dict[str, dict]) -> None:
    """Set h5 attributes: key (``'/'`` = the file) -> name -> value."""
    import h5py
    with h5py.File(path, 'a') as f:
        for key, values in attrs.items():
            f[key].attrs.update(values)


class SkipList:
    """Items that could not be processed, with the reason: one
    ``<id>\\t<path>\\t<reason>`` line each, appended and flushed as they
    happen (one part file per process, merged by rank 0 at the end).

    Args:
        path (str): the final skip list (rewritten by each run).
        rank (int): this process.
        world_size (int): number of processes.
    """

    def __init__(self, path: str, rank: int = 0, world_size: int = 1) -> None:
        self.path, self.rank, self.world_size = path, rank, world_size
        self.part = f'{path}.rank{rank}.part'
        self.items: List[Tuple[str, str, str]] = []
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)

    def clear_parts(self) -> None:
        """Rank 0, before any process starts: drop stale part files."""
        for part in glob.glob(glob.escape(self.path) + '.rank*.part'):
            os.remove(part)

    def add(self, key: str, source: str, reason: str) -> None:
        reason = ' '.join(str(reason).split())  # one line
        self.items.append((key, source, reason))
        with open(self.part, 'a') as f:
            f.write(f'{key}\t{source}\t{reason}\n')

    def merge(self) -> List[str]:
        """Rank 0: concatenate the part files into ``path``.

        Returns:
            list[str]: the lines of the final skip list.
        """
        if self.rank != 0:
            return []
        lines = []
        for part in sorted(glob.glob(glob.escape(self.path) + '.rank*.part')):
            with open(part) as f:
                lines.extend(line.rstrip('\n') for line in f if line.strip())
            os.remove(part)
        with open(self.path, 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
        return lines


def round_robin(items: Sequence,
                rank: int,
                world_size: int,
                weights: Optional[Iterable[float]] = None) -> list:
    """This rank's share of ``items``: heaviest first, dealt round robin
    (balanced when ``weights`` such as frame counts are given)."""
    items = list(items)
    if weights is not None:
        order = np.argsort(
            -np.asarray(list(weights), dtype=np.float64), kind='stable')
        items = [items[i] for i in order]
    return items[rank::world_size]
