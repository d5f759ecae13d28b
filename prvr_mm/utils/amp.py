"""Mixed-precision training switch of ``tools/train.py`` (``--amp``)."""
from typing import Optional

import torch
from mmengine.config import Config

from ..errors import PRVRConfigError


class AmpUnavailableError(PRVRConfigError, RuntimeError):
    """``--amp`` on a machine without CUDA (a config error; also a
    ``RuntimeError``, what this check raised before)."""


#: autocast dtypes ``--amp-dtype`` accepts
AMP_DTYPES = ('float16', 'bfloat16')


def use_amp(cfg: Config,
            dtype: str = 'float16',
            cuda: Optional[bool] = None) -> Config:
    """Train with MMEngine's ``AmpOptimWrapper`` (autocast + loss scaling).

    ``float16`` uses a dynamic loss scale (unless the config sets
    ``optim_wrapper.loss_scale``); ``bfloat16`` has float32's range and
    needs none (a constant scale of 1, which still skips steps whose
    gradients are not finite).  The numerics that must stay in float32
    under autocast (log-softmax, KL, InfoNCE, masks) are the losses' job.

    Args:
        cfg (Config): the config (modified in place).
        dtype (str): ``'float16'`` or ``'bfloat16'``. Defaults to float16.
        cuda (bool, optional): whether CUDA is available; defaults to
            ``torch.cuda.is_available()``.

    Returns:
        Config: ``cfg``.

    Raises:
        PRVRConfigError: an unknown dtype.
        AmpUnavailableError: no CUDA (``AmpOptimWrapper`` refuses CPU
            training); a ``PRVRConfigError`` and a ``RuntimeError``.
    """
    if dtype not in AMP_DTYPES:
        raise PRVRConfigError(f'--amp-dtype must be one of {AMP_DTYPES}, '
                              f'got {dtype!r}')
    if cuda is None:
        cuda = torch.cuda.is_available()
    if not cuda:
        raise AmpUnavailableError(
            '--amp needs a CUDA device: MMEngine\'s AmpOptimWrapper refuses '
            'CPU training (train in float32 on CPU; bfloat16 is also slower '
            'than float32 on CPUs without bf16 matrix units)')
    wrapper = cfg.optim_wrapper
    wrapper.type = 'AmpOptimWrapper'
    wrapper.dtype = dtype
    wrapper.setdefault('loss_scale', 'dynamic' if dtype == 'float16' else 1.0)
    return cfg
