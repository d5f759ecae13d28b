"""Stops training when the validation SumR stops improving (DL-DKD rule),
with its counter and best score kept in checkpoints for ``--resume``."""
import logging
from math import isfinite
from typing import Optional, Tuple

from mmaction.registry import HOOKS
from mmengine.hooks import EarlyStoppingHook
from mmengine.logging import print_log


@HOOKS.register_module()
class ResumableEarlyStoppingHook(EarlyStoppingHook):
    """MMEngine's :class:`~mmengine.hooks.EarlyStoppingHook` with a strict
    improvement rule and state that survives ``--resume``.

    A validation improves only when its score is STRICTLY better than the
    best one by more than ``min_delta`` (``score > best + min_delta`` for
    ``rule='greater'``); a tie counts as no improvement.  After ``patience``
    validations in a row without improvement, training stops.  With
    ``min_delta=0`` and ``patience=11`` this is the authors' rule (their
    ``es_cnt > max_es_cnt`` with ``max_es_cnt=10``: the 11th validation in a
    row without a higher SumR stops the run).  Together with
    ``CheckpointHook(save_best=..., rule='greater')``, which also keeps the
    earliest of equal scores, the stop epoch and the best checkpoint are the
    authors' for the same sequence of validation scores.

    The counter and the best score are written into every checkpoint
    (``checkpoint['early_stopping']``) and restored when the Runner resumes
    (``resume=True``); loading weights with ``load_from`` starts afresh.
    It runs before ``CheckpointHook`` after a validation, so a checkpoint
    written then (e.g. the best one) holds the state of that validation.

    Args:
        monitor (str): metric key, e.g. ``'prvr/SumR'``.
        rule (str, optional): ``'greater'`` or ``'less'``; None infers it
            from the key like MMEngine (fails for ``SumR``). Defaults to
            None.
        min_delta (float): margin an improvement must exceed. Defaults to
            0.0.
        strict (bool): raise if ``monitor`` is missing from the metrics.
            Defaults to False.
        check_finite (bool): stop when the score is NaN or infinite.
            Defaults to True.
        patience (int): validations without improvement that stop the run.
            Defaults to 11 (the authors' ``max_es_cnt=10``).
        stopping_threshold (float, optional): stop once the score is better
            than this. Defaults to None.
    """

    # before CheckpointHook (VERY_LOW) in after_val_epoch, so that a
    # checkpoint written after a validation holds the updated state
    priority = 'LOW'
    state_key = 'early_stopping'

    def __init__(self,
                 monitor: str,
                 rule: Optional[str] = None,
                 min_delta: float = 0.0,
                 strict: bool = False,
                 check_finite: bool = True,
                 patience: int = 11,
                 stopping_threshold: Optional[float] = None) -> None:
        if min_delta < 0:
            raise ValueError(f'min_delta must be >= 0, got {min_delta}')
        if patience < 1:
            raise ValueError(f'patience must be >= 1, got {patience}')
        super().__init__(
            monitor=monitor,
            rule=rule,
            min_delta=min_delta,
            strict=strict,
            check_finite=check_finite,
            patience=patience,
            stopping_threshold=stopping_threshold)

    def _is_improvement(self, score: float) -> bool:
        # self.min_delta is negated for rule='less' by the parent
        return self.rule_map[self.rule](score,
                                        self.best_score + self.min_delta)

    def _check_stop_condition(self, current_score: float) -> Tuple[bool, str]:
        """Update the counter with one validation score (strict rule)."""
        compare = self.rule_map[self.rule]
        if self.check_finite and not isfinite(current_score):
            return True, (f'Monitored metric {self.monitor} = '
                          f'{current_score} is not finite. Previous best '
                          f'value was {self.best_score:.3f}.')
        if self.stopping_threshold is not None and compare(
                current_score, self.stopping_threshold):
            self.best_score = current_score
            return True, (f'Stopping threshold reached: `{self.monitor}` = '
                          f'{current_score} is {self.rule} than '
                          f'{self.stopping_threshold}.')
        if self._is_improvement(current_score):
            self.best_score = current_score
            self.wait_count = 0
            return False, ''
        self.wait_count += 1
        if self.wait_count >= self.patience:
            return True, (f'the monitored metric {self.monitor} did not '
                          f'improve in the last {self.wait_count} '
                          f'validations; best score: {self.best_score:.3f}.')
        return False, ''

    def state_dict(self) -> dict:
        """The counter and best score (plain floats/ints)."""
        return dict(
            monitor=self.monitor,
            rule=self.rule,
            best_score=float(self.best_score),
            wait_count=int(self.wait_count))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the early-stopping state in the checkpoint."""
        checkpoint[self.state_key] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the state when resuming (not for ``load_from``)."""
        if not getattr(runner, '_resume', False):
            return
        state = checkpoint.get(self.state_key)
        if state is None:
            print_log(
                'the resumed checkpoint has no early-stopping state; '
                f'{type(self).__name__} starts counting afresh',
                logger='current',
                level=logging.WARNING)
            return
        if state.get('monitor') != self.monitor or \
                state.get('rule') != self.rule:
            raise ValueError(
                f'{type(self).__name__}: the resumed checkpoint tracked '
                f"{state.get('monitor')!r} ({state.get('rule')}) but this "
                f'config monitors {self.monitor!r} ({self.rule})')
        self.best_score = state['best_score']
        self.wait_count = state['wait_count']
