"""bf16 mixed-precision training on CPU: ``tools/train.py --amp`` where
MMEngine's ``AmpOptimWrapper`` (CUDA / NPU / MLU only) refuses to build."""
from contextlib import contextmanager
from typing import Union

import torch
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper
from torch import nn

from ...errors import PRVRConfigError


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """An :class:`OptimWrapper` whose forward runs under CPU autocast in
    bfloat16.

    bfloat16 has float32's exponent range, so no loss scaling is needed;
    parameters, gradients and optimizer states stay float32 (autocast casts
    the inputs of matrix products and keeps reductions, softmax and the
    losses' log-space terms in float32). It pays on CPUs with bf16 matrix
    units (AMX, AVX512-BF16): see :mod:`prvr_mm.utils.hardware`.

    Args:
        dtype (str | torch.dtype): the autocast dtype; only ``bfloat16``
            (CPU autocast supports no other). Defaults to ``'bfloat16'``.
        **kwargs: arguments of :class:`OptimWrapper`.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype != torch.bfloat16:
            raise PRVRConfigError(
                f'CPUAmpOptimWrapper: CPU autocast runs in bfloat16 only, '
                f'got dtype={dtype}; use --amp-dtype bfloat16 (or --amp '
                'alone) on CPU')
        super().__init__(**kwargs)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of :class:`OptimWrapper`, with the
        forward under ``torch.autocast('cpu', dtype=bfloat16)``."""
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=self.cast_dtype):
            yield
