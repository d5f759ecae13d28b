"""Makes ``--resume`` continue the interrupted run exactly: random states in
checkpoints, validation that does not touch them, the resumed epoch's
validation redone, and mid-epoch checkpoints continued mid-epoch."""
import logging
import random
from typing import List, Optional

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from ..resumable_loader import ResumableLoader

#: checkpoint key of the per-rank random states
RNG_KEY = 'rng_states'
#: ``meta`` key of a checkpoint saved inside an epoch: batches already done
BATCHES_DONE = 'epoch_batches_done'


def get_rng_state() -> dict:
    """This process's random states (torch CPU and CUDA, numpy, python)."""
    np_state = np.random.get_state()
    state = dict(
        torch=torch.get_rng_state(),
        numpy=(np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
               int(np_state[2]), int(np_state[3]), float(np_state[4])),
        python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state(
        (name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """A resumed run continues exactly as the uninterrupted one.

    MMEngine's resume restores weights, optimizer, schedulers, the message
    hub and the epoch/iteration counters, but re-seeds the random generators
    (so dropout masks and sampled negatives differ from the uninterrupted
    run), and its epoch loop restarts an epoch from its first batch.  This
    hook adds:

    * the random states of every rank (torch CPU/CUDA, numpy, python) in
      every checkpoint saved at the end of an epoch (and in preemption
      checkpoints, see :class:`PreemptionHook`), restored on resume;
    * validation, and the start of each epoch's data loading, leave the
      training random stream untouched (:class:`ResumableLoader`), so the
      stream does not depend on when the run started or on validation;
    * on resume from an epoch checkpoint (written BEFORE that epoch's
      validation), the validation of that epoch is run again first, so the
      best checkpoint, the early-stopping counter and the stop decision are
      those of the uninterrupted run whether the kill came before or after
      that validation;
    * on resume from a checkpoint saved inside an epoch (``meta`` key
      ``epoch_batches_done``), the epoch continues with its remaining
      batches in the same sampler order (``DistSamplerSeedHook`` re-seeds the
      sampler by epoch), loading none of the batches already done.

    Exact means bit-identical weights on CPU with the same thread count;
    data-loader workers re-start their own random streams after a
    mid-epoch resume (the prvr_mm feature pipelines draw no random
    numbers).  Iteration-interval checkpoints of ``CheckpointHook`` carry the
    random state of rank 0 only when more than one process runs.  With an
    iteration-based loop only the random states are restored.

    Enabled in ``configs/_base_/default_runtime.py``
    (``default_hooks.exact_resume``).
    """

    priority = 'LOWEST'  # before_train after CheckpointHook's

    def __init__(self) -> None:
        self._states: Optional[List[dict]] = None
        self._states_iter = -1
        self._resumed: Optional[dict] = None
        self._val_state: Optional[dict] = None

    # --- random states ---------------------------------------------------
    def capture(self, runner, at_iter: int) -> None:
        """Gather every rank's random state (a collective: all ranks call
        it) for the checkpoint of iteration count ``at_iter``."""
        state = get_rng_state()
        self._states = all_gather_object(state) \
            if get_world_size() > 1 else [state]
        self._states_iter = at_iter

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """At the last batch of an epoch, capture the states that the
        epoch checkpoint will hold."""
        if batch_idx + 1 == len(runner.train_dataloader):
            self.capture(runner, runner.iter + 1)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Write the random states into the checkpoint."""
        at_iter = checkpoint.get('meta', {}).get('iter', runner.iter)
        if self._states_iter != at_iter:
            if get_world_size() > 1:
                return  # other ranks' states unknown here (rank 0 only)
            self.capture(runner, at_iter)
        checkpoint[RNG_KEY] = dict(
            world_size=len(self._states), states=self._states)

    def before_val(self, runner) -> None:
        """Validation must not consume the training random stream."""
        self._val_state = get_rng_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None

    # --- resume ----------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Remember what the resumed run must restore."""
        if not getattr(runner, '_resume', False):
            return
        meta = checkpoint.get('meta', {})
        self._resumed = dict(
            rng=checkpoint.get(RNG_KEY), batches_done=meta.get(BATCHES_DONE))

    def before_train(self, runner) -> None:
        """Wrap the training loader; on resume restore the random states,
        redo the resumed epoch's validation, skip done batches."""
        loop = runner.train_loop
        by_epoch = isinstance(loop, EpochBasedTrainLoop)
        if by_epoch and not isinstance(loop.dataloader, ResumableLoader):
            loop.dataloader = ResumableLoader(loop.dataloader)
        if self._resumed is None:
            return
        resumed, self._resumed = self._resumed, None
        rng = resumed['rng']
        rank, world = get_rank(), get_world_size()
        if rng is None or rng['world_size'] != world:
            print_log(
                'the resumed checkpoint has no random states for '
                f'{world} process(es); the resumed run re-seeds instead '
                '(not bit-identical to an uninterrupted run)',
                logger='current',
                level=logging.WARNING)
        else:
            set_rng_state(rng['states'][rank])
        done, epoch = resumed['batches_done'], loop.epoch
        if not by_epoch:  # iteration-based loops: random states only
            return
        if done is not None:
            loop.dataloader.skip_next(done)
            print_log(
                f'resuming inside epoch {epoch + 1}, after its first {done} '
                'batches',
                logger='current')
        elif epoch > 0 and runner.val_loop is not None and \
                epoch >= loop.val_begin and (epoch % loop.val_interval == 0
                                             or epoch == loop.max_epochs):
            print_log(
                f'validating epoch {epoch} again: its checkpoint was saved '
                'before its validation',
                logger='current')
            runner.val_loop.run()
