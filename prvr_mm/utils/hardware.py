"""What this machine computes fastest: the CPU's matrix-unit flags and a
measured bf16-vs-fp32 matmul probe, so that the tools' default precision
follows the hardware (bf16 where the CPU has bf16 matrix units, fp32 where
bf16 would be slower).

The probe runs once per process (cached) and only when a tool asks for
``precision='auto'``; ``'fp32'`` / ``'bf16'`` are always honoured as given.
"""
import functools
import os
import platform
import time
from typing import Dict, FrozenSet, Optional

import torch

__all__ = [
    'PRECISIONS', 'REPORTED_FLAGS', 'MIN_SPEEDUP', 'cpu_flags', 'host_flags',
    'bf16_speedup', 'resolve_precision', 'precision_dtype'
]

#: precisions a tool's ``--precision`` accepts
PRECISIONS = ('auto', 'fp32', 'bf16')
#: flags named in every benchmark line
REPORTED_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')
#: bf16 must beat fp32 by this factor to be the default
MIN_SPEEDUP = 1.2


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
