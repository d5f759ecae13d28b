"""``--resume`` with a changed run length does what the user means: the
learning-rate schedule reaches its end at the new end, or the run is
refused with the two numbers; never a silently frozen learning rate."""
import logging

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from ...errors import PRVRConfigError
from ..schedulers import WarmupLinearParamScheduler

#: checkpoint['meta'] keys of the run length a checkpoint was written for
MAX_EPOCHS, MAX_ITERS = 'max_epochs', 'max_iters'


def _schedulers(runner):
    """(name, scheduler) pairs of the runner's built param schedulers."""
    schedulers = runner.param_schedulers or []
    if isinstance(schedulers, dict):
        return [(name, s) for name, group in schedulers.items() for s in group]
    return [(None, s) for s in schedulers]


def _states(checkpoint):
    states = checkpoint.get('param_schedulers') or []
    if isinstance(states, dict):
        return [s for group in states.values() for s in group]
    return list(states)


@HOOKS.register_module()
class ResumeIntentHook(Hook):
    """Checks a resume against the run length of the config.

    Every checkpoint records the run length it was written for
    (``meta['max_epochs']``, ``meta['max_iters']``).  On ``--resume``:

    * ``train_cfg.max_epochs`` smaller than the checkpoint's epoch (nothing
      left to train while the user asked for a different length) is
      refused with both numbers;
    * a param scheduler whose end followed the old run length and is
      restored by MMEngine (every MMEngine scheduler: its ``end`` comes
      from the checkpoint) would hold the parameter at its last value for
      all the new iterations: refused with both lengths and the options
      (resume with the old ``max_epochs``, or use ``WarmupLinearLR``, which
      rescales the remaining schedule to the new end);
    * ``WarmupLinearLR`` and ``DynamicKDHook`` rescale themselves; the
      change is logged.

    Enabled in ``configs/_base_/default_runtime.py``
    (``default_hooks.resume_intent``).
    """

    priority = 'VERY_HIGH'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta[MAX_EPOCHS] = runner.max_epochs
        meta[MAX_ITERS] = runner.max_iters

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        meta = checkpoint.get('meta', {})
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        old_epochs, new_epochs = meta.get(MAX_EPOCHS), runner.max_epochs
        new_iters = runner.max_iters
        epoch, it = meta.get('epoch', 0), meta.get('iter', 0)
        if by_epoch and new_epochs < epoch:
            raise PRVRConfigError(
                f'--resume: the checkpoint is at epoch {epoch}' +
                (f' of a {old_epochs}-epoch run' if old_epochs else '') +
                f', but train_cfg.max_epochs={new_epochs}: nothing is left '
                'to train. Use --cfg-options train_cfg.max_epochs=N with N > '
                f'{epoch} to train on, or tools/test.py to evaluate the '
                'checkpoint')
        if not by_epoch and new_iters < it:
            raise PRVRConfigError(
                f'--resume: the checkpoint is at iteration {it}, but '
                f'train_cfg.max_iters={new_iters}: nothing is left to train')
        for (name, scheduler), state in zip(
                _schedulers(runner), _states(checkpoint)):
            if isinstance(scheduler, WarmupLinearParamScheduler) or \
                    not hasattr(scheduler, 'end') or 'end' not in state or \
                    state['end'] == scheduler.end:
                continue
            length = new_epochs if scheduler.by_epoch else new_iters
            if scheduler.end < length:
                continue  # ends before the run does (a warm-up, ...)
            unit = 'epoch' if scheduler.by_epoch else 'iteration'
            raise PRVRConfigError(
                f'--resume: the checkpoint\'s {type(scheduler).__name__} '
                f'({scheduler.param_name}) ends at {unit} {state["end"]}' +
                (f' (train_cfg.max_epochs={old_epochs})' if old_epochs else ''
                 ) + f', this run\'s at {unit} {scheduler.end} '
                f'(train_cfg.max_epochs={new_epochs}); MMEngine restores the '
                f'checkpoint\'s end and would hold the {scheduler.param_name} '
                'at its last value for the rest of the run. Resume with '
                f'--cfg-options train_cfg.max_epochs={old_epochs or "<old>"}, '
                'or use WarmupLinearLR, which rescales the remaining schedule '
                'to the new end')
        if old_epochs is not None and by_epoch and old_epochs != new_epochs:
            print_log(
                f'--resume: the run length changes from {old_epochs} to '
                f'{new_epochs} epochs at epoch {epoch}: WarmupLinearLR and '
                'the linear/cosine DynamicKDHook schedules rescale their '
                'remaining part to end at the new last epoch; epoch-only '
                'schedules (KD '
                'weight, exp/sigmoid) carry on; early stopping keeps its '
                'counter (docs/long_runs.md)',
                logger='current',
                level=logging.WARNING)
