"""Per-epoch schedules of DL-DKD (KD weight) and DL-DKD++ (alpha, beta).

Pure functions of the epoch index (0-based), equal to the authors'
``train_epoch`` schedules; :class:`DynamicKDHook` applies them.
"""
import math
from typing import Optional, Sequence, Tuple

KD_DECAYS = ('exp', 'linear', 'sigmoid', 'constant')
TARGET_DECAYS = ('exp', 'linear', 'sigmoid', 'cosine', 'constant')


def kd_weight_at(epoch: int,
                 decay: str = 'exp',
                 exp_k: float = 0.95,
                 linear_k: float = -0.01,
                 linear_b: float = 1.0,
                 linear_floor: float = 0.05,
                 sigmoid_k: float = 800.0,
                 init: float = 1.0) -> float:
    """Distillation weight of an epoch.

    * ``exp``: ``exp_k ** e``; * ``linear``: ``max(linear_k * e + linear_b,
      linear_floor)``; * ``sigmoid``: ``k / (k + exp(e * 100 / k))``;
    * ``constant``: ``init``.

    Args:
        epoch (int): 0-based epoch.
        decay (str): one of ``exp``, ``linear``, ``sigmoid``, ``constant``.

    Returns:
        float: the weight.
    """
    if decay == 'exp':
        return exp_k**epoch
    if decay == 'linear':
        return max(linear_k * epoch + linear_b, linear_floor)
    if decay == 'sigmoid':
        return sigmoid_k / (sigmoid_k + math.exp(epoch * 100 / sigmoid_k))
    if decay == 'constant':
        return init
    raise ValueError(f'unknown KD decay {decay!r}, expected one of '
                     f'{KD_DECAYS}')


def target_param_at(epoch: int,
                    init: float,
                    decay: str = 'sigmoid',
                    floor: Optional[float] = None,
                    max_epochs: int = 120,
                    exp_k: float = 0.95,
                    sigmoid_k: float = 800.0) -> float:
    """Soft-target alpha or beta of an epoch (DL-DKD++).

    The floor defaults to the authors' choice for ``beta``-like parameters:
    pass ``floor=0.0`` for alpha, and ``floor=None`` for beta to get
    ``0.5 if init >= 0.5 else 0``.

    * ``exp``: ``init * exp_k ** e``; * ``linear``: ``init + (floor - init)
      / max_epochs * e``; * ``sigmoid``: ``init * k / (k + exp(e*100/k))``;
    * ``cosine``: ``floor + (init - floor) * (1 + cos(pi e / max_epochs))/2``;
    * ``constant``: ``init``; every value is clamped below at ``floor``.

    Args:
        epoch (int): 0-based epoch.
        init (float): value at the start.
        decay (str): one of ``exp``, ``linear``, ``sigmoid``, ``cosine``,
            ``constant``.
        floor (float, optional): lower bound (see above).
        max_epochs (int): schedule length for linear and cosine.

    Returns:
        float: the value.
    """
    if floor is None:
        floor = 0.5 if init >= 0.5 else 0.0
    if decay == 'exp':
        value = init * exp_k**epoch
    elif decay == 'linear':
        value = init + (floor - init) / max_epochs * epoch
    elif decay == 'sigmoid':
        value = init * sigmoid_k / (
            sigmoid_k + math.exp(epoch * 100 / sigmoid_k))
    elif decay == 'cosine':
        value = floor + 0.5 * (init - floor) * (
            1 + math.cos(math.pi * epoch / max_epochs))
    elif decay == 'constant':
        value = init
    else:
        raise ValueError(f'unknown decay {decay!r}, expected one of '
                         f'{TARGET_DECAYS}')
    return max(value, floor)


def remap_step(step: float, total: float,
               rescales: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    """Map a step of a run whose length changed on resume back onto the
    schedule it was started with.

    A run resumed after step ``r`` (the last step whose value was applied)
    with a new length ``T`` instead of ``T0`` keeps steps ``<= r`` and
    stretches (or shrinks) the rest of the original schedule, steps
    ``r .. T0``, linearly onto ``r .. T``: step ``s > r`` takes the value of
    ``r + (s - r) * (T0 - r) / (T - r)``.  The value is therefore continuous
    at the resume point and reaches the original end value (0 for the
    learning rate) exactly at the new end.  Several resumes compose.

    Args:
        step (float): the step of the current run.
        total (float): the current length ``T``.
        rescales (Sequence[tuple]): ``(r, T0)`` of every resume that changed
            the length, oldest first (``T0``: the length before it).

    Returns:
        tuple: ``(step, total)`` in the coordinates of the original
        schedule.
    """
    for resumed, previous in reversed(list(rescales)):
        if step > resumed and total > resumed:
            step = resumed + (step - resumed) * (previous - resumed) / (
                total - resumed)
        total = previous
    return step, total
