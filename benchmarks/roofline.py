"""Roofline helpers of the benchmarks: matmul peak, FLOP counts, memory.

* :func:`matmul_peak_gflops`: the machine's measured matmul peak, a short
  GEMM probe (``2048 x 2048 x 2048``, best of a few runs) on the device and
  threads the benchmark uses; float32 unless a 16-bit dtype is asked for.
* :func:`sustained_matmul_gflops`: the same GEMM run back to back for as
  long as the measured work ran, right after it: the throughput the
  machine sustains over those seconds.  On a shared host the best of a few
  short probes sits 5-25 % above it (a short burst catches the host's
  fastest moments; sustained load does not), so ``pct_peak`` against the
  short probe is the conservative figure and ``pct_sustained`` the one
  that compares like with like.
* :func:`step_flops`: the matmul FLOPs a DL-DKD(++) training step needs,
  counted from the shapes actually run but on VALID rows only (valid clips
  and tokens, valid x valid attention pairs, one query x clip product per
  branch): padded work is not counted as useful.
* :func:`counted_flops`: the matmul FLOPs a callable EXECUTES, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (padding included), to show
  how much padded or duplicated work an implementation does.
* :func:`PeakMemory`: peak memory of a block (CUDA: allocated tensors;
  CPU: process peak RSS via ``/proc/self/clear_refs`` + ``VmHWM``).

A multiply-add counts 2 FLOPs, as ``FlopCounterMode`` does.
"""
import ctypes
import gc
import statistics
import time
from typing import Callable, Dict, Optional, Sequence

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _gemm_operands(device: torch.device, dtype: torch.dtype, size: int):
    """The probe's ``size`` x ``size`` operands ``a``, ``b`` and output."""
    gen = torch.Generator(device='cpu').manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    return a, b, torch.empty(size, size, device=device, dtype=dtype)


def matmul_peak_gflops(device: torch.device,
                       dtype: torch.dtype = torch.float32,
                       size: int = 2048,
                       repeats: int = 5) -> float:
    """Best GFLOP/s of a ``size``^3 GEMM (a few seconds on a 2-core CPU).

    Args:
        device (torch.device): where to run it.
        dtype (torch.dtype): operand dtype. Defaults to float32.
        size (int): matrix side. Defaults to 2048.
        repeats (int): timed runs after one warm-up; the best one counts.

    Returns:
        float: GFLOP/s of the fastest run.
    """
    a, b, out = _gemm_operands(device, dtype, size)
    torch.mm(a, b, out=out)
    best = float('inf')
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def sustained_matmul_gflops(device: torch.device,
                            seconds: float,
                            dtype: torch.dtype = torch.float32,
                            size: int = 2048) -> float:
    """GFLOP/s of ``size``^3 GEMMs run back to back for ``seconds``.

    Args:
        device (torch.device): where to run them.
        seconds (float): how long to keep the GEMMs running (at least one
            GEMM runs).
        dtype (torch.dtype): operand dtype. Defaults to float32.
        size (int): matrix side. Defaults to 2048.

    Returns:
        float: total GEMM FLOPs over the elapsed time, in GFLOP/s.
    """
    a, b, out = _gemm_operands(device, dtype, size)
    sync(device)
    start = time.perf_counter()
    count = 0
    while True:
        torch.mm(a, b, out=out)
        count += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2.0 * size**3 * count / elapsed / 1e9


def _attention_flops(lengths: torch.Tensor, hidden: int) -> float:
    """Linears (q, k, v, dense) on valid rows + QK^T and PV on valid pairs."""
    rows = float(lengths.sum())
    pairs = float((lengths.double()**2).sum())
    return 4 * 2 * rows * hidden * hidden + 2 * 2 * pairs * hidden


def step_flops(video_lengths: torch.Tensor,
               query_lengths: torch.Tensor,
               video_dim: int,
               query_dim: int,
               hidden: int,
               teacher_dim: Optional[int],
               branches: int = 2) -> Dict[str, float]:
    """Useful matmul FLOPs of one training step (forward + backward).

    Per branch, forward, on valid rows only: video input projection
    ``2 V Dv H``, video attention (4 linears + QK^T + PV over valid pairs),
    clip projection ``2 V H^2``, query input projection ``2 T Dq H``, query
    attention, attention pooling ``4 T H``, and ONE query x clip product
    ``2 Nq V H`` (the cosine and raw scores share it); ``V`` = valid clips,
    ``T`` = valid tokens.  Backward costs twice the forward (gradients of
    both operands of every product; the input projections need their input
    gradient too, for their LayerNorm parameters).  The teacher adds one
    product ``2 Nq V Dt``, forward only.

    Args:
        video_lengths (Tensor): (B,) valid clips per video.
        query_lengths (Tensor): (Nq,) valid tokens per query.
        video_dim, query_dim (int): input feature dims ``Dv``, ``Dq``.
        hidden (int): hidden size ``H``.
        teacher_dim (int, optional): CLIP dim ``Dt``; None = no teacher.
        branches (int): student branches. Defaults to 2.

    Returns:
        dict: ``forward``, ``backward``, ``teacher`` and ``total`` FLOPs.
    """
    clips = float(video_lengths.sum())
    tokens = float(query_lengths.sum())
    num_q = float(len(query_lengths))
    fwd = (2 * clips * video_dim * hidden +
           _attention_flops(video_lengths, hidden) +
           2 * clips * hidden * hidden + 2 * tokens * query_dim * hidden +
           _attention_flops(query_lengths, hidden) + 4 * tokens * hidden +
           2 * num_q * clips * hidden)
    fwd *= branches
    teacher = 2 * num_q * clips * teacher_dim if teacher_dim else 0.0
    return dict(
        forward=fwd,
        backward=2 * fwd,
        teacher=teacher,
        total=3 * fwd + teacher)


def counted_flops(fn: Callable[[], object]) -> float:
    """Matmul FLOPs executed by ``fn()`` (``FlopCounterMode``, padding and
    duplicated products included)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def _status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc)."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory (MiB) of a ``with`` block.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors), reset on entry.
    CPU: the process' peak resident set size (``VmHWM``), reset on entry by
    writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0); it covers
    interpreter, libraries, model, optimizer state, batch and the work of
    the block.  ``note`` says which was measured.

    Args:
        device (torch.device): the device of the work.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = float('nan')
        self.note = ''

    def __enter__(self) -> 'PeakMemory':
        release_memory()
        if self.device.type == 'cuda':
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.note = 'torch.cuda.max_memory_allocated'
            return self
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            self.note = 'process peak RSS (VmHWM, reset at the start)'
        except OSError:
            self.note = 'process peak RSS (VmHWM since process start)'
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == 'cuda':
            sync(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            kb = _status_kb('VmHWM')
            self.peak_mb = kb / 1024.0 if kb is not None else float('nan')


def sustained_fields(ratios: Sequence[float],
                     sustained: Sequence[float]) -> str:
    """``sustained_gflops=.. pct_sustained=..`` from paired measurements.

    Args:
        ratios (Sequence[float]): per timed run, its achieved GFLOP/s over
            the :func:`sustained_matmul_gflops` measured right after it.
        sustained (Sequence[float]): those sustained GFLOP/s.

    Returns:
        str: medians of both, the ratio in percent.
    """
    return (f'sustained_gflops={statistics.median(sustained):.1f} '
            f'pct_sustained={100.0 * statistics.median(ratios):.1f}')


def roofline_fields(flops: float, seconds: float, peak_gflops: float) -> str:
    """``flops_g=.. achieved_gflops=.. peak_gflops=.. pct_peak=..``."""
    achieved = flops / seconds / 1e9
    return (f'flops_g={flops / 1e9:.1f} achieved_gflops={achieved:.1f} '
            f'peak_gflops={peak_gflops:.1f} '
            f'pct_peak={100.0 * achieved / peak_gflops:.1f}')


def host_fields(precision: str) -> str:
    """``machine=.. cores=.. avx2=1 avx512f=1 ... amx_bf16=0
    precision=..``: every benchmark line names the host's matrix-unit
    flags and the precision, so figures of different hosts are never
    compared blindly (:func:`prvr_mm.utils.hardware.host_flags`).

    Args:
        precision (str): the precision the line measured (``fp32`` /
            ``bf16``).

    Returns:
        str: space-separated ``key=value`` fields.
    """
    from prvr_mm.utils.hardware import host_flags
    fields = [
        f'{key}={int(value) if isinstance(value, bool) else value}'
        for key, value in host_flags().items()
    ]
    return ' '.join(fields + [f'precision={precision}'])
