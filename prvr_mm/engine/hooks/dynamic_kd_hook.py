"""Sets the distillation factor (and DL-DKD++ alpha/beta) every epoch."""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..schedules import (KD_DECAYS, TARGET_DECAYS, kd_weight_at, remap_step,
                         target_param_at)

#: checkpoint['meta'] key of the run length the schedules were following
META_KEY = 'dynamic_kd'
#: decays of alpha / beta that depend on the run length
_LENGTH_DECAYS = ('linear', 'cosine')


@HOOKS.register_module()
class DynamicKDHook(Hook):
    """Dynamic knowledge distillation schedule of DL-DKD / DL-DKD++.

    The single owner of the schedule values: before each training epoch
    ``e`` (0-based) it computes ``kd_weight = kd_weight_at(e, kd_decay,
    ...)`` (the dynamic factor of the KL term, on top of the KL loss weight
    ``loss_distill.loss_weight``) and, when ``alpha_decay`` / ``beta_decay``
    are given, ``alpha`` and ``beta`` (soft targets), hands them to the
    model's ``set_schedule`` and logs them as ``train/kd_weight``,
    ``train/alpha``, ``train/beta``.

    Args:
        kd_decay (str): ``exp`` | ``linear`` | ``sigmoid`` | ``constant``.
            Defaults to ``'exp'``.
        exp_k (float): base of the exponential decay. Defaults to 0.95.
        linear_k (float): slope of the linear decay. Defaults to -0.01.
        linear_b (float): intercept of the linear decay. Defaults to 1.0.
        sigmoid_k (float): ``k`` of the sigmoid decay. Defaults to 800.
        kd_init (float): value of the ``constant`` schedule (0 disables
            distillation). Defaults to 1.0.
        alpha_decay (str, optional): schedule of alpha; None leaves alpha.
        alpha_init (float): alpha at epoch 0 (before decay). Defaults to 0.8.
        alpha_floor (float): lower bound of alpha. Defaults to 0.0.
        beta_decay (str, optional): schedule of beta; None leaves beta.
        beta_init (float): beta at epoch 0. Defaults to 0.8.
        beta_floor (float, optional): lower bound of beta; None = the
            authors' rule (0.5 if ``beta_init >= 0.5`` else 0).
        target_sigmoid_k (float): ``k`` of alpha/beta sigmoid decay.
            Defaults to 800.
        max_epochs (int, optional): length of linear/cosine schedules;
            None = the runner's ``max_epochs``.

    ``--resume`` with another ``train_cfg.max_epochs``: the KD weight
    (every ``kd_decay``) and the ``exp`` / ``sigmoid`` / ``constant``
    alpha/beta schedules depend on the epoch only, so they carry on
    unchanged.  The ``linear`` / ``cosine`` alpha/beta schedules, when they
    follow the runner's ``max_epochs`` (``max_epochs=None``), rescale their
    remaining part to the new end like the learning rate
    (:func:`~prvr_mm.engine.schedules.remap_step`): continuous at the
    resume point, at the floor at the new end.  The run length they follow
    is saved in every checkpoint (``meta['dynamic_kd']``).
    """

    priority = 'NORMAL'

    def __init__(self,
                 kd_decay: str = 'exp',
                 exp_k: float = 0.95,
                 linear_k: float = -0.01,
                 linear_b: float = 1.0,
                 sigmoid_k: float = 800.0,
                 kd_init: float = 1.0,
                 alpha_decay: Optional[str] = None,
                 alpha_init: float = 0.8,
                 alpha_floor: float = 0.0,
                 beta_decay: Optional[str] = None,
                 beta_init: float = 0.8,
                 beta_floor: Optional[float] = None,
                 target_sigmoid_k: float = 800.0,
                 max_epochs: Optional[int] = None) -> None:
        if kd_decay not in KD_DECAYS:
            raise ValueError(f'kd_decay must be one of {KD_DECAYS}, '
                             f'got {kd_decay!r}')
        for name, decay in (('alpha_decay', alpha_decay), ('beta_decay',
                                                           beta_decay)):
            if decay is not None and decay not in TARGET_DECAYS:
                raise ValueError(f'{name} must be None or one of '
                                 f'{TARGET_DECAYS}, got {decay!r}')
        self.kd_kwargs = dict(
            decay=kd_decay,
            exp_k=exp_k,
            linear_k=linear_k,
            linear_b=linear_b,
            sigmoid_k=sigmoid_k,
            init=kd_init)
        self.alpha_decay, self.alpha_init = alpha_decay, alpha_init
        self.alpha_floor = alpha_floor
        self.beta_decay, self.beta_init = beta_decay, beta_init
        self.beta_floor = beta_floor
        self.exp_k = exp_k
        self.target_sigmoid_k = target_sigmoid_k
        self.max_epochs = max_epochs
        #: (last epoch applied, previous max_epochs) of every resume that
        #: changed the run length
        self.rescales = []

    def values_at(self, epoch: int, max_epochs: int) -> dict:
        """The schedule values of ``epoch`` (a dict of floats)."""
        values = dict(kd_weight=kd_weight_at(epoch, **self.kd_kwargs))
        if self.max_epochs:
            at, length = epoch, self.max_epochs
        else:
            at, length = remap_step(epoch, max_epochs, self.rescales)
        targets = (('alpha', self.alpha_decay, self.alpha_init,
                    self.alpha_floor), ('beta', self.beta_decay,
                                        self.beta_init, self.beta_floor))
        for name, decay, init, floor in targets:
            if decay is None:
                continue
            rescaled = decay in _LENGTH_DECAYS
            values[name] = target_param_at(
                at if rescaled else epoch,
                init,
                decay,
                floor,
                max_epochs=length if rescaled else max_epochs,
                exp_k=self.exp_k,
                sigmoid_k=self.target_sigmoid_k)
        return values

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Save the run length the schedules follow."""
        checkpoint.setdefault('meta', {})[META_KEY] = dict(
            max_epochs=runner.max_epochs,
            rescales=[list(r) for r in self.rescales])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume with another ``max_epochs``, rescale the remaining
        length-dependent schedules (see the class notes)."""
        if not getattr(runner, '_resume', False):
            return
        meta = checkpoint.get('meta', {})
        saved = meta.get(META_KEY) or {}
        self.rescales = [tuple(r) for r in saved.get('rescales', [])]
        previous = saved.get('max_epochs')
        if previous is None or previous == runner.max_epochs:
            return
        # the last epoch whose values were applied: the checkpoint's epoch
        # when it was written inside that epoch, the one before otherwise
        epoch = meta.get('epoch', 0)
        last = epoch if meta.get('epoch_batches_done') else epoch - 1
        if last >= 0 and runner.max_epochs > last:
            self.rescales.append((last, previous))

    def before_train_epoch(self, runner) -> None:
        """Set the values of ``runner.epoch`` on the model and log them."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        values = self.values_at(runner.epoch, runner.max_epochs)
        model.set_schedule(**values)
        for key, value in values.items():
            runner.message_hub.update_scalar(f'train/{key}', value)
