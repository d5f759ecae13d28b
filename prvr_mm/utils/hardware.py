"""What this machine computes fastest: the CPU's matrix-unit flags and a
measured bf16-vs-fp32 matmul probe, so that the tools' default precision
follows the hardware (bf16 where the CPU has bf16 matrix units, fp32 where
bf16 would be slower).

The probe runs once per process (cached) and only when a tool asks for
``precision='auto'``; ``'fp32'`` / ``'bf16'`` are always honoured as given.

Inference in bf16 is one rule, used by extraction, the online teacher and
search: a frozen model's matrix-product weights are cast to bf16 once
(:func:`cast_frozen`) and the forward pass runs under
:func:`autocast_context` (which casts the inputs of those products).
Autocast alone re-casts every weight on every call: a ViT-B/32 image tower
on 8 frames took 4.0 s that way against 1.16 s with weights cast once
(AVX-512 host without AMX; fp32: 0.37 s).
"""
import functools
import os
import platform
import time
from typing import ContextManager, Dict, FrozenSet, Optional

import torch
from torch import nn

__all__ = [
    'PRECISIONS', 'REPORTED_FLAGS', 'MIN_SPEEDUP', 'cpu_flags', 'host_flags',
    'bf16_speedup', 'resolve_precision', 'precision_dtype', 'autocast_context',
    'cast_frozen'
]

#: precisions a tool's ``--precision`` accepts
PRECISIONS = ('auto', 'fp32', 'bf16')
#: flags named in every benchmark line
REPORTED_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')
#: bf16 must beat fp32 by this factor to be the default
MIN_SPEEDUP = 1.2
# modules whose weights feed a matrix product, and the attention weights
# ``nn.MultiheadAttention`` keeps outside its ``out_proj`` (a Linear)
_MATMUL_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ATTENTION_WEIGHTS = ('in_proj_weight', 'in_proj_bias', 'q_proj_weight',
                      'k_proj_weight', 'v_proj_weight', 'bias_k', 'bias_v')


@functools.lru_cache(maxsize=None)
def cpu_flags() -> FrozenSet[str]:
    """The CPU feature flags (``/proc/cpuinfo``; empty where unreadable).

    Returns:
        frozenset[str]: e.g. ``{'avx2', 'avx512f', 'amx_bf16', ...}``.
    """
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def host_flags() -> Dict[str, object]:
    """The host facts a benchmark line names: machine, cores, and whether
    each of :data:`REPORTED_FLAGS` is present.

    Returns:
        dict: ``machine``, ``cores`` and one bool per flag.
    """
    flags = cpu_flags()
    out: Dict[str, object] = dict(
        machine=platform.machine(), cores=os.cpu_count())
    out.update({name: name in flags for name in REPORTED_FLAGS})
    return out


def _matmul_seconds(dtype: torch.dtype, size: int, repeats: int) -> float:
    """Best time of one (size x size) @ (size x size) product on CPU."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    out = torch.empty(size, size, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up (kernel selection, page faults)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return best


@functools.lru_cache(maxsize=None)
def bf16_speedup(size: int = 1024, repeats: int = 5) -> float:
    """Measured speed of a bf16 CPU matmul relative to fp32 (> 1: bf16 is
    faster), once per process.

    Args:
        size (int): matrix size. Defaults to 1024.
        repeats (int): timed products per dtype (best kept). Defaults to 5.

    Returns:
        float: ``t_fp32 / t_bf16``.
    """
    fp32 = _matmul_seconds(torch.float32, size, repeats)
    bf16 = _matmul_seconds(torch.bfloat16, size, repeats)
    return fp32 / bf16


def resolve_precision(precision: str = 'auto',
                      device: Optional[str] = None) -> str:
    """The precision to compute in.

    ``'auto'`` is ``'bf16'`` on a CUDA device that supports it and on a CPU
    whose bf16 matmul measured at least :data:`MIN_SPEEDUP` times faster
    than fp32 (CPUs with AMX or AVX512-BF16), else ``'fp32'``.

    Args:
        precision (str): ``'auto'``, ``'fp32'`` or ``'bf16'``.
        device (str, optional): ``'cpu'`` (default) or a CUDA device.

    Returns:
        str: ``'fp32'`` or ``'bf16'``.
    """
    from ..errors import PRVRConfigError
    if precision not in PRECISIONS:
        raise PRVRConfigError(f'precision must be one of {PRECISIONS}, got '
                              f'{precision!r}')
    if precision != 'auto':
        return precision
    if device is not None and str(device).startswith('cuda'):
        return 'bf16' if torch.cuda.is_bf16_supported() else 'fp32'
    return 'bf16' if bf16_speedup() >= MIN_SPEEDUP else 'fp32'


def precision_dtype(precision: str) -> torch.dtype:
    """``torch.bfloat16`` for ``'bf16'``, ``torch.float32`` for ``'fp32'``."""
    return {'bf16': torch.bfloat16, 'fp32': torch.float32}[precision]


def _device_type(device) -> str:
    return 'cuda' if str(device).startswith('cuda') else 'cpu'


def autocast_context(precision: str,
                     device: Optional[str] = None) -> ContextManager:
    """The context a forward pass in ``precision`` runs under.

    ``torch.autocast(dtype=torch.bfloat16)`` where ``precision`` resolves
    to ``'bf16'`` (:func:`resolve_precision`); autocast explicitly *off*
    where it resolves to ``'fp32'``, so that an outer autocast (training
    with ``--amp``) does not turn an fp32 computation into bf16.

    Args:
        precision (str): ``'auto'``, ``'fp32'`` or ``'bf16'``.
        device (str, optional): ``'cpu'`` (default) or a CUDA device.

    Returns:
        ContextManager: a ``torch.autocast`` context.
    """
    resolved = resolve_precision(precision, device)
    return torch.autocast(
        _device_type(device), dtype=torch.bfloat16, enabled=resolved == 'bf16')


def cast_frozen(module: nn.Module,
                precision: str,
                device: Optional[str] = None) -> str:
    """Cast the matrix-product weights of a frozen (inference-only) module
    to bf16 once, in place, where ``precision`` resolves to ``'bf16'``.

    The weights and biases of ``nn.Linear`` / ``nn.Conv1d/2d/3d`` and the
    projection weights of ``nn.MultiheadAttention`` become bf16;
    embeddings, norms and every other parameter stay float32. Run the
    module under :func:`autocast_context` with the returned precision:
    autocast casts the inputs of those products (float32 inputs are fine)
    and no longer re-casts the weights on every call. With ``'fp32'``
    nothing changes.

    Args:
        module (nn.Module): the frozen model (no parameter requires grad).
        precision (str): ``'auto'``, ``'fp32'`` or ``'bf16'``.
        device (str, optional): the device it runs on (for ``'auto'``).

    Returns:
        str: the resolved precision, ``'fp32'`` or ``'bf16'``.

    Raises:
        ValueError: a parameter requires grad (a trained module keeps its
            float32 weights; use :func:`autocast_context` alone).
    """
    resolved = resolve_precision(precision, device)
    if resolved != 'bf16':
        return resolved
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(
            f'cast_frozen: {type(module).__name__} has parameters that '
            f'require grad ({trainable[:3]}...); only frozen modules are '
            'cast (call requires_grad_(False) first, or use '
            'autocast_context alone)')
    for sub in module.modules():
        if isinstance(sub, _MATMUL_MODULES):
            names = ('weight', 'bias')
        elif isinstance(sub, nn.MultiheadAttention):
            names = _ATTENTION_WEIGHTS
        else:
            continue
        for name in names:
            param = getattr(sub, name, None)
            if param is not None and param.is_floating_point():
                param.data = param.data.to(torch.bfloat16)
    return resolved
