"""Mixed-precision training switch of ``tools/train.py`` (``--amp``)."""
from typing import Optional

import torch
from mmengine.config import Config

from ..errors import PRVRConfigError

#: autocast dtypes ``--amp-dtype`` accepts
AMP_DTYPES = ('float16', 'bfloat16')


def use_amp(cfg: Config,
            dtype: Optional[str] = None,
            cuda: Optional[bool] = None) -> Config:
    """Train in mixed precision: MMEngine's ``AmpOptimWrapper`` (autocast +
    loss scaling) on CUDA, :class:`~prvr_mm.engine.CPUAmpOptimWrapper`
    (bf16 autocast) on CPU.

    ``float16`` uses a dynamic loss scale (unless the config sets
    ``optim_wrapper.loss_scale``); ``bfloat16`` has float32's range and
    needs none (a constant scale of 1, which still skips steps whose
    gradients are not finite).  The numerics that must stay in float32
    under autocast (log-softmax, KL, InfoNCE, masks) are the losses' job.

    Args:
        cfg (Config): the config (modified in place).
        dtype (str, optional): ``'float16'`` or ``'bfloat16'``. Defaults to
            float16 on CUDA, bfloat16 on CPU (the only CPU autocast dtype).
        cuda (bool, optional): whether CUDA is available; defaults to
            ``torch.cuda.is_available()``.

    Returns:
        Config: ``cfg``.

    Raises:
        PRVRConfigError: an unknown dtype, or float16 on CPU.
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    if dtype is None:
        dtype = 'float16' if cuda else 'bfloat16'
    if dtype not in AMP_DTYPES:
        raise PRVRConfigError(f'--amp-dtype must be one of {AMP_DTYPES}, '
                              f'got {dtype!r}')
    wrapper = cfg.optim_wrapper
    if not cuda:
        if dtype != 'bfloat16':
            raise PRVRConfigError(
                '--amp-dtype float16 needs a CUDA device: CPU autocast runs '
                'in bfloat16 only; use --amp (bfloat16) on CPU')
        wrapper.type = 'CPUAmpOptimWrapper'
        wrapper.dtype = dtype
        return cfg
    wrapper.type = 'AmpOptimWrapper'
    wrapper.dtype = dtype
    wrapper.setdefault('loss_scale', 'dynamic' if dtype == 'float16' else 1.0)
    return cfg
