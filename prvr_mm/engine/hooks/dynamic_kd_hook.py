"""Sets the distillation factor (and DL-DKD++ alpha/beta) every epoch."""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..schedules import KD_DECAYS, TARGET_DECAYS, kd_weight_at, target_param_at


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

    def values_at(self, epoch: int, max_epochs: int) -> dict:
        """The schedule values of ``epoch`` (a dict of floats)."""
        values = dict(kd_weight=kd_weight_at(epoch, **self.kd_kwargs))
        common = dict(
            max_epochs=self.max_epochs or max_epochs,
            exp_k=self.exp_k,
            sigmoid_k=self.target_sigmoid_k)
        if self.alpha_decay is not None:
            values['alpha'] = target_param_at(epoch, self.alpha_init,
                                              self.alpha_decay,
                                              self.alpha_floor, **common)
        if self.beta_decay is not None:
            values['beta'] = target_param_at(epoch, self.beta_init,
                                             self.beta_decay, self.beta_floor,
                                             **common)
        return values

    def before_train_epoch(self, runner) -> None:
        """Set the values of ``runner.epoch`` on the model and log them."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        values = self.values_at(runner.epoch, runner.max_epochs)
        model.set_schedule(**values)
        for key, value in values.items():
            runner.message_hub.update_scalar(f'train/{key}', value)
