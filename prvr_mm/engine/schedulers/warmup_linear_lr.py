"""Linear warm-up then linear decay to 0 over the whole run (DL-DKD recipe).

The learning-rate multiplier of the authors' ``BertAdam`` schedule
``warmup_linear`` as an MMEngine param scheduler, so that the optimiser
stays schedule-free and the schedule follows ``train_cfg.max_epochs``.
"""
from typing import List, Union

from mmaction.registry import PARAM_SCHEDULERS
from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from torch.optim import Optimizer

from ...errors import PRVRConfigError
from ..schedules import remap_step


def warmup_linear(progress: float, warmup_ratio: float) -> float:
    """The authors' ``warmup_linear`` multiplier at ``progress = t / T``.

    ``progress / w`` while ``progress < w``, then ``(1 - progress) / (1 - w)``
    clamped at 0: it rises from 0 at step 0 to 1 at ``t = w T`` and falls
    linearly to 0 at ``t = T`` (e.g. ``w = 0.1, T = 10``: 0, 1, 0.889, ...).

    Args:
        progress (float): ``t / T``, ``t`` = 0-based update index.
        warmup_ratio (float): ``w`` in [0, 1).

    Returns:
        float: the multiplier.
    """
    if progress < warmup_ratio:
        return progress / warmup_ratio
    return max((progress - 1.0) / (warmup_ratio - 1.0), 0.0)


@PARAM_SCHEDULERS.register_module()
class WarmupLinearParamScheduler(_ParamScheduler):
    """Sets ``param = initial * warmup_linear(t / T, warmup_ratio)``.

    ``t`` counts the steps since ``begin`` and ``T = end - begin``.  The value
    is computed in closed form from ``initial_<param>`` (nothing is chained,
    so a short warm-up can never leave the value stuck at a tiny factor);
    do not combine it with another scheduler of the same parameter over the
    same steps.

    Leave ``end`` out of the config: the Runner then fills it from
    ``train_cfg.max_epochs`` (or ``max_iters``) when it builds the
    schedulers, so ``--cfg-options train_cfg.max_epochs=N`` moves the whole
    schedule, warm-up included (``warmup_ratio`` is a fraction of the run).
    ``--resume`` with another ``max_epochs`` rescales the remaining
    schedule to the new end (:meth:`load_state_dict`).
    With ``convert_to_iter_based=True`` the value changes every iteration,
    as in the authors' code.

    Args:
        optimizer (Optimizer or BaseOptimWrapper): the optimizer.
        param_name (str): parameter to schedule, e.g. ``'lr'``.
        warmup_ratio (float): warm-up fraction ``w`` of ``end - begin``, in
            [0, 1). Defaults to 0.01 (the authors' ``lr_warmup_proportion``).
        begin (int): first step. Defaults to 0.
        end (int): step at which the value reaches 0; must be finite.
        last_step (int): last step index when resuming. Defaults to -1.
        by_epoch (bool): step per epoch (True) or per iteration.
        verbose (bool): print every update. Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 param_name: str,
                 warmup_ratio: float = 0.01,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if not 0.0 <= warmup_ratio < 1.0:
            raise ValueError(f'{type(self).__name__}: warmup_ratio must be '
                             f'in [0, 1), got {warmup_ratio}')
        if end == INF:
            raise ValueError(
                f'{type(self).__name__} needs a finite `end`: leave `end` '
                'out of the param_scheduler config and build it through the '
                'Runner, which sets it to train_cfg.max_epochs (by_epoch) or '
                'max_iters')
        if end <= begin:
            raise PRVRConfigError(
                f'{type(self).__name__}: end should be larger than begin '
                f'(got begin={begin}, end={end}); a schedule that follows '
                'the run length needs train_cfg.max_epochs (or max_iters) '
                '>= 1')
        self.warmup_ratio = warmup_ratio
        self.total_steps = end - begin
        #: (last step applied, previous length) of every resume that
        #: changed the length of the run (see :meth:`load_state_dict`)
        self.rescales = []
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              begin: Union[int, float] = 0,
                              end: Union[int, float] = INF,
                              by_epoch: bool = True,
                              epoch_length: int = None,
                              **kwargs):
        """Build an iteration-based instance from epoch-based arguments."""
        if not by_epoch:
            raise ValueError('only by_epoch=True configs can be converted '
                             'to iteration-based ones')
        if epoch_length is None or epoch_length <= 0:
            raise PRVRConfigError(
                f'epoch_length must be a positive integer, got {epoch_length}'
                ': the training dataloader yields no batch (fewer videos in '
                'the split than train_dataloader.batch_size with '
                'drop_last=True?)')
        begin = int(begin * epoch_length)
        if end != INF:
            end = int(end * epoch_length)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)

    def multiplier(self, step: int) -> float:
        """The multiplier at ``step`` steps after ``begin`` (on a schedule
        rescaled by a resume, see :meth:`load_state_dict`)."""
        step, total = remap_step(step, self.total_steps, self.rescales)
        return warmup_linear(step / total, self.warmup_ratio)

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a checkpoint's state; a changed run length (``--resume``
        with another ``train_cfg.max_epochs``, or another number of
        iterations per epoch) rescales the rest of the schedule.

        MMEngine restores the checkpoint's ``end``, so a longer run would
        keep the last learning rate of the old schedule for all its extra
        iterations.  Here the schedule keeps the ``end`` it was built with
        (the new run's) and the rest of the old schedule, from the last step
        applied, is stretched or shrunk onto the new remaining steps
        (:func:`~prvr_mm.engine.schedules.remap_step`): continuous at the
        resume point, 0 at the new end.

        Raises:
            PRVRConfigError: the new run ends before the resumed step.
        """
        begin, end, total = self.begin, self.end, self.total_steps
        super().load_state_dict(state_dict)
        self.rescales = list(state_dict.get('rescales', []))
        if self.end == end and self.begin == begin:
            return
        resumed = self.last_step  # the last step whose value was applied
        if total <= resumed:
            raise PRVRConfigError(
                f'{type(self).__name__}: the resumed checkpoint is at step '
                f'{resumed + 1} of its schedule, but this run ends at step '
                f'{total}: nothing is left to train (raise '
                'train_cfg.max_epochs)')
        self.rescales.append((resumed, self.total_steps))
        self.begin, self.end, self.total_steps = begin, end, total
        step = self._global_step - self.begin
        if self.last_step < step and self.begin <= self._global_step < \
                self.end:
            # the step the old schedule did not take (it had ended)
            self.last_step = step
            for group, value in zip(self.optimizer.param_groups,
                                    self._get_value()):
                group[self.param_name] = value
            self._last_value = [
                group[self.param_name] for group in self.optimizer.param_groups
            ]

    def _get_value(self) -> List[float]:
        """Closed-form value of every param group at ``last_step``."""
        factor = self.multiplier(self.last_step)
        return [base * factor for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class WarmupLinearLR(LRSchedulerMixin, WarmupLinearParamScheduler):
    """Learning rate ``initial_lr * warmup_linear(t / T, warmup_ratio)``.

    The DL-DKD / DL-DKD++ schedule (the authors' ``BertAdam(...,
    warmup=0.01, schedule='warmup_linear', t_total=iters_per_epoch *
    n_epoch)``): rises linearly from 0 at the first iteration to the peak at
    ``warmup_ratio`` of the run, then decays linearly to 0 at the end of the
    run.  In a config::

        param_scheduler = dict(
            type='WarmupLinearLR', warmup_ratio=0.01, by_epoch=True,
            convert_to_iter_based=True)  # no `end`: follows max_epochs

    Args:
        optimizer (Optimizer or BaseOptimWrapper): the optimizer.
        warmup_ratio (float): warm-up fraction of the run. Defaults to 0.01.
        begin (int): first epoch (or iteration). Defaults to 0.
        end (int): epoch (or iteration) at which the lr reaches 0; filled
            by the Runner from ``train_cfg`` when left out.
        last_step (int): last step index when resuming. Defaults to -1.
        by_epoch (bool): epoch-based (convert with
            ``convert_to_iter_based=True``) or iteration-based.
        verbose (bool): print every update. Defaults to False.
    """
