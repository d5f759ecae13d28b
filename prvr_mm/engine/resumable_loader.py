"""The training data loader seen by the epoch loop: starting an epoch draws
no number from the global random stream, and an epoch can start after its
first N batches (resuming a mid-epoch checkpoint)."""
from typing import Iterator, List

import torch
from torch.utils.data import DataLoader


class ResumableLoader:
    """Wraps the training :class:`~torch.utils.data.DataLoader`.

    * ``iter()`` of a DataLoader draws its workers' base seed from torch's
      global generator, once per epoch or once per run (persistent
      workers); the wrapper restores the generator after that draw, so the
      training random stream (dropout, sampled negatives) is the same
      whether the run started at epoch 0 or was resumed at epoch k;
    * :meth:`skip_next` makes the next epoch yield only its batches after
      the first ``n`` (the sampler's order for that epoch, fixed by
      ``sampler.set_epoch``), without loading the skipped ones.

    Every other attribute (``dataset``, ``sampler``, ``batch_size``...) is
    the wrapped loader's.

    Args:
        loader (DataLoader): the training loader.
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self._pending = 0
        self._skipped = 0

    def __getattr__(self, name: str):
        return getattr(self.__dict__['loader'], name)

    def skip_next(self, num_batches: int) -> None:
        """Skip the first ``num_batches`` batches of the next epoch."""
        self._pending = int(num_batches)

    @property
    def skipped(self) -> int:
        """Batches skipped at the start of the current epoch."""
        return self._skipped

    def __len__(self) -> int:
        """Batches of the current epoch (fewer in a skipped epoch)."""
        return len(self.loader) - self._skipped

    def _remainder(self, skip: int) -> DataLoader:
        batches: List[list] = list(self.loader.batch_sampler)[skip:]
        loader = self.loader
        workers = loader.num_workers
        return DataLoader(
            loader.dataset,
            batch_sampler=batches,
            num_workers=workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context
            if workers else None,
            generator=loader.generator,
            prefetch_factor=loader.prefetch_factor if workers else None)

    def __iter__(self) -> Iterator:
        self._skipped, self._pending = self._pending, 0
        state = torch.get_rng_state()
        loader = self._remainder(self._skipped) if self._skipped \
            else self.loader
        iterator = iter(loader)
        torch.set_rng_state(state)
        return iterator
