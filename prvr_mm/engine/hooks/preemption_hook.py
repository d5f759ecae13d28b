"""On SIGTERM (Slurm preemption, ``scancel``, a spot-instance notice) the
run saves a checkpoint at the end of the current iteration and exits 0, so
a requeued job continues it with ``--resume``."""
import logging
import os.path as osp
import signal
from typing import Optional, Sequence

import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..atomic_io import atomic_write_text
from .exact_resume_hook import BATCHES_DONE, ExactResumeHook
from .safe_checkpoint_hook import atomic_checkpoint_saves


class TrainingPreempted(SystemExit):
    """Raised after the preemption checkpoint is written (exit status 0)."""


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save-and-exit on a termination signal.

    The signal handler only sets a flag.  After the current training
    iteration (optimizer step and scheduler step done) the ranks agree on
    the flag (any rank signalled = all stop at the same iteration), rank 0
    writes ``preempted_iter_{N}.pth`` (weights, optimizer, schedulers,
    message hub, random states, and ``meta['epoch_batches_done']``), points
    ``last_checkpoint`` at it, and every process exits with status 0.
    ``tools/train.py CONFIG --resume`` then continues inside the same epoch
    with its remaining batches (:class:`ExactResumeHook`), giving the
    weights of an uninterrupted run.

    A signal during validation or data loading takes effect after the next
    training iteration.  Under ``torchrun`` the agent forwards SIGTERM to
    the workers (and itself exits non-zero); under Slurm use
    ``#SBATCH --signal=TERM@120`` or rely on preemption's SIGTERM with a
    ``GraceTime`` longer than one iteration plus a checkpoint write.

    Args:
        signals (Sequence[str]): signal names to handle. Defaults to
            ``('SIGTERM',)``.
    """

    priority = 'LOWEST'  # after the optimizer/scheduler steps and logging

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )) -> None:
        self.signals = [getattr(signal, name) for name in signals]
        self._requested = False
        self._previous = {}

    def _handler(self, signum, frame) -> None:
        self._requested = True

    def before_train(self, runner) -> None:
        """Install the handlers (main thread only)."""
        for sig in self.signals:
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                return

    def after_run(self, runner) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def _agreed(self) -> bool:
        """Whether any rank was signalled (a collective when distributed)."""
        if get_world_size() == 1:
            return self._requested
        flag = torch.tensor([int(self._requested)])
        all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Save and exit if a termination signal arrived."""
        if not self._agreed():
            return
        # batches of this epoch done (a resumed epoch skipped some)
        done = batch_idx + 1 + getattr(runner.train_dataloader, 'skipped', 0)
        for hook in runner.hooks:
            if isinstance(hook, ExactResumeHook):
                hook.capture(runner, runner.iter + 1)
        filename = f'preempted_iter_{runner.iter + 1}.pth'
        with atomic_checkpoint_saves(runner):
            runner.save_checkpoint(
                runner.work_dir,
                filename,
                meta={BATCHES_DONE: done},
                by_epoch=False)
        path = osp.join(runner.work_dir, filename)
        if is_main_process():
            atomic_write_text(
                osp.join(runner.work_dir, 'last_checkpoint'), path)
        print_log(
            f'termination signal: saved {path} after iteration '
            f'{runner.iter + 1} (epoch {runner.epoch + 1}, {done} batches '
            'done); exiting with status 0. Continue with --resume.',
            logger='current',
            level=logging.WARNING)
        raise TrainingPreempted(0)
