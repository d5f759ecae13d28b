"""Benchmark the chunked PRVR evaluation at TVR test scale and beyond.

Random embeddings shaped like the TVR test split (10895 queries, 2179
videos, 128 clips, hidden size 384, two branches: inheritance and
exploration) and a ``tvr-x10`` scale with 10x the videos (21790) and the
same queries. Every scale runs in a fresh Python subprocess and times three
stages:

(a) ``scores``: :func:`max_over_clips` for both branches;
(b) ``rank``: :func:`fuse` (weight 0.7) and :func:`retrieval_metrics`
    of the inheritance, exploration and fused matrices (R@1/5/10/100, SumR,
    MedR, MnR, mAP);
(c) ``baseline``: :func:`baseline_retrieval_metrics` (the straightforward
    evaluation of the DL-DKD code: per query ``np.argsort``, ``np.where``
    of the positives, and a Python AP loop over the ranked labels) of the
    same three matrices.

Data: each video gets a valid length drawn uniformly in ``[L // 2, L]``
(clips zeroed beyond it); query ``i`` is relevant to video ``i % V`` and is
a noisy copy of one of its valid clips, so every video has >= 1 query and
the ranks are spread out. At ``tvr`` the clips are stored in float32
(428 MB per branch); at ``tvr-x10`` they are stored in float16 (2.1 GB per
branch instead of 4.3 GB) and generated block by block, and
``max_over_clips`` up-casts one video chunk at a time.

Memory: peak resident memory (RSS) of each stage above the RSS held when it
starts (i.e. above the inputs' own size), read from ``VmHWM`` in
``/proc/self/status`` after resetting it by writing ``5`` to
``/proc/self/clear_refs`` (Linux >= 4.0; a 2 ms RSS sampling thread is the
fallback). Before each stage ``malloc_trim(0)`` (glibc, via ctypes) hands
freed heap memory back to the OS, so the starting RSS is the live data (the
inputs and earlier results) and the growth is what the stage really holds at
its peak. The scoring stage's peak includes its two (Q, V)
float32 outputs; ``working`` is the peak minus those outputs. The 1-minute
load average is printed at the start and end of each scale: the machine
may be shared, and timings are wall-clock.

Roofline of the scoring stage: ``flops_g`` is the useful matmul work,
``2 x Q x (valid clips) x H`` per branch (padded clips not counted), and
``achieved_gflops = flops_g / scores_s`` is compared with the machine's
matmul peak measured in the same process (a float32 2048^3 GEMM on the
same device and threads, best of 5, before and after the stage), and
with what the same GEMM sustains when run back to back for as long as the
stage took, right after it (``pct_sustained``; on a shared host the best
short probe sits 5-25 % above that); the work actually executed
(``max_over_clips`` cuts every chunk to its longest video, so some
padded clips are still scored) is printed beside it.

The last line printed for each scale is machine readable, one line of the
form (wrapped here)::

    eval_scale <name>: scores_s=<float> rank_s=<float>
        baseline_rank_s=<float> rank_ratio=<float> total_s=<float>
        flops_g=<float> achieved_gflops=<float> peak_gflops=<float>
        pct_peak=<float> sustained_gflops=<float> pct_sustained=<float>
        peak_mb=<float>

with ``total_s = scores_s + rank_s``, ``rank_ratio = baseline_rank_s /
rank_s`` and ``peak_mb`` the scoring stage's peak above the inputs.

Example::

    python -m benchmarks.eval_scale --scales tvr,tvr-x10   # checkout root
"""
import argparse
import ctypes
import gc
import math
import os
import subprocess
import sys
import threading
import time
from typing import Dict, Optional, Tuple

import torch

from benchmarks.reference_metrics import baseline_retrieval_metrics
from benchmarks.roofline import (host_fields, matmul_peak_gflops,
                                 roofline_fields, sustained_fields,
                                 sustained_matmul_gflops)
from prvr_mm.evaluation.functional import retrieval_metrics
from prvr_mm.evaluation.scoring import (block_sizes, fuse, fusion_weights,
                                        max_over_clips)
from prvr_mm.utils.hardware import resolve_precision

#: the checkout root (the scale workers run ``-m benchmarks.eval_scale`` there)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCALES = {
    'tvr': dict(num_queries=10895, num_videos=2179, storage='float32'),
    'tvr-x10': dict(num_queries=10895, num_videos=21790, storage='float16'),
    # a tenth of the queries against all TVR videos: bf16 on CPUs without
    # bf16 matrix units (several times slower than fp32) in minutes
    'tvr-q10': dict(num_queries=1090, num_videos=2179, storage='float32'),
}
MAX_CLIPS = 128
HIDDEN = 384
FUSE_WEIGHT = 0.7
SIGNAL = 0.25  # query = SIGNAL * (one clip of its video) + N(0, 1) noise


def parse_args() -> argparse.Namespace:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--scales',
        default='tvr,tvr-x10',
        help=f'comma-separated scales among {sorted(SCALES)}')
    parser.add_argument(
        '--query-chunk',
        type=int,
        default=None,
        help='query_chunk of max_over_clips (default: its default)')
    parser.add_argument(
        '--video-chunk',
        type=int,
        default=None,
        help='video_chunk of max_over_clips (default: its default)')
    parser.add_argument(
        '--precision',
        choices=('fp32', 'bf16', 'auto'),
        default='fp32',
        help='precision of the products (bf16: bfloat16 products, float32 '
        'accumulation; auto: bf16 where this device runs it faster)')
    parser.add_argument(
        '--skip-baseline',
        action='store_true',
        help='do not run the per-query numpy baseline')
    parser.add_argument(
        '--baseline-queries',
        type=int,
        default=None,
        help='run the baseline on the first N queries only and extrapolate '
        'its time linearly to all queries (printed as such); default: all')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (default: torch default)')
    parser.add_argument(
        '--device', default='cpu', help='device of the scoring stage')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def _status_kb(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (e.g. VmRSS, VmHWM)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


class PeakRSS:
    """Peak RSS growth (MB) of a ``with`` block above its starting RSS."""

    def __enter__(self) -> 'PeakRSS':
        self._sampler: Optional[threading.Thread] = None
        gc.collect()
        try:  # return freed heap pages so the starting RSS is live memory
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM to the current RSS
        except OSError:
            self._stop = threading.Event()
            self._max_kb = _status_kb('VmRSS')
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        self.start_kb = _status_kb('VmRSS')
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._max_kb = max(self._max_kb, _status_kb('VmRSS'))

    def __exit__(self, *exc) -> None:
        if self._sampler is None:
            peak_kb = _status_kb('VmHWM')
        else:
            self._stop.set()
            self._sampler.join()
            peak_kb = max(self._max_kb, _status_kb('VmRSS'))
        self.start_mb = self.start_kb / 1024
        self.peak_mb = (peak_kb - self.start_kb) / 1024


def make_branch(num_queries: int, num_videos: int, lengths: torch.Tensor,
                storage: torch.dtype, gen: torch.Generator) -> tuple:
    """Random clips and matching queries of one branch.

    Args:
        num_queries (int): Q.
        num_videos (int): V.
        lengths (Tensor): (V,) valid clip counts.
        storage (torch.dtype): dtype of the stored clips.
        gen (torch.Generator): random generator.

    Returns:
        tuple[Tensor, Tensor]: queries (Q, H) float32 and clips
        (V, MAX_CLIPS, H) in ``storage`` dtype, zero beyond each length.
    """
    clips = torch.empty(num_videos, MAX_CLIPS, HIDDEN, dtype=storage)
    valid = torch.arange(MAX_CLIPS) < lengths[:, None]
    for start in range(0, num_videos, 512):  # no full float32 temporary
        end = min(start + 512, num_videos)
        block = torch.randn(end - start, MAX_CLIPS, HIDDEN, generator=gen)
        clips[start:end] = block * valid[start:end, :, None]
    video = torch.arange(num_queries) % num_videos
    clip = (torch.rand(num_queries, generator=gen) * lengths[video]).long()
    queries = SIGNAL * clips[video, clip].float() + torch.randn(
        num_queries, HIDDEN, generator=gen)
    return queries, clips


def scoring_flops(lengths: torch.Tensor, num_queries: int,
                  video_chunk: int) -> Tuple[float, float]:
    """Useful and executed matmul FLOPs of scoring one branch.

    Useful: every query against every VALID clip. Executed: what
    :func:`max_over_clips` multiplies, videos sorted by length and each
    chunk of ``video_chunk`` cut to its longest video.
    """
    useful = 2.0 * num_queries * float(lengths.sum()) * HIDDEN
    ordered = lengths.sort().values
    rows = sum(
        float(ordered[i:i + video_chunk].max()) *
        len(ordered[i:i + video_chunk])
        for i in range(0, len(ordered), video_chunk))
    return useful, 2.0 * num_queries * rows * HIDDEN


def fmt_metrics(metrics: Dict[str, float]) -> str:
    """One-line summary of a metric dict."""
    return ' '.join(f'{k}={v:.4f}' for k, v in metrics.items())


def run_scale(name: str, args: argparse.Namespace) -> None:
    """Generate one scale's data, time the three stages and print them."""
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SCALES[name]
    num_queries, num_videos = cfg['num_queries'], cfg['num_videos']
    storage = getattr(torch, cfg['storage'])
    chunk_kwargs = {}
    if args.query_chunk:
        chunk_kwargs['query_chunk'] = args.query_chunk
    if args.video_chunk:
        chunk_kwargs['video_chunk'] = args.video_chunk

    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    lengths = torch.randint(
        MAX_CLIPS // 2, MAX_CLIPS + 1, (num_videos, ), generator=gen)
    mask = torch.arange(MAX_CLIPS) < lengths[:, None]
    inputs = {
        branch: make_branch(num_queries, num_videos, lengths, storage, gen)
        for branch in ('inher', 'explore')
    }
    positives = (torch.arange(num_queries) % num_videos)[:, None]
    clips_inher = inputs['inher'][1]
    clip_mb = 2 * clips_inher.numel() * clips_inher.element_size() / 2**20
    dense_mb = num_queries * num_videos * MAX_CLIPS * 4 / 2**20
    out_mb = 2 * num_queries * num_videos * 4 / 2**20
    print(
        f'[{name}] Q={num_queries} V={num_videos} L={MAX_CLIPS} '
        f'H={HIDDEN} branches=2 clips={cfg["storage"]} '
        f'(inputs {clip_mb:.0f} MB, generated in '
        f'{time.perf_counter() - t0:.1f} s) threads='
        f'{torch.get_num_threads()} device={args.device} '
        f'precision={args.precision} '
        f'chunks={chunk_kwargs or "default"} mean_valid_len='
        f'{lengths.float().mean():.1f} loadavg={os.getloadavg()[0]:.2f}',
        flush=True)
    print(
        f'[{name}] a dense (Q, V, L) float32 score tensor would take '
        f'{dense_mb:.0f} MB per branch',
        flush=True)

    # (a) scores
    device = torch.device(args.device)
    peaks = [matmul_peak_gflops(device)]
    useful, executed = scoring_flops(
        lengths, num_queries,
        block_sizes(num_queries, int(lengths.max()), args.query_chunk,
                    args.video_chunk)[1])
    useful, executed = 2 * useful, 2 * executed  # two branches
    with PeakRSS() as mem_scores:
        t0 = time.perf_counter()
        scores = {
            branch:
            max_over_clips(
                queries,
                clips,
                mask,
                normalize=True,
                precision=args.precision,
                device=args.device,
                **chunk_kwargs).cpu()
            for branch, (queries, clips) in inputs.items()
        }
        scores_s = time.perf_counter() - t0
    sustained = sustained_matmul_gflops(device, scores_s)
    peaks.append(matmul_peak_gflops(device))
    print(
        f'[{name}] (a) roofline: useful {useful / 1e9:.0f} GFLOP (valid '
        f'clips), executed {executed / 1e9:.0f} GFLOP; matmul peak '
        f'{peaks[0]:.1f} / {peaks[1]:.1f} GFLOP/s (before / after), '
        f'{sustained:.1f} GFLOP/s sustained over {scores_s:.0f} s, '
        f'{useful / scores_s / 1e9:.1f} GFLOP/s achieved',
        flush=True)
    print(
        f'[{name}] (a) scores: {scores_s:.2f} s for 2 branches; peak '
        f'{mem_scores.peak_mb:.0f} MB above inputs (RSS at start '
        f'{mem_scores.start_mb:.0f} MB) = outputs {out_mb:.0f} MB + '
        f'working {mem_scores.peak_mb - out_mb:.0f} MB',
        flush=True)
    del inputs

    # (b) ranking
    with PeakRSS() as mem_rank:
        t0 = time.perf_counter()
        scores['fused'] = fuse(
            scores, fusion_weights(('inher', 'explore'), FUSE_WEIGHT))
        fast = {
            branch: retrieval_metrics(mat, positives)
            for branch, mat in scores.items()
        }
        rank_s = time.perf_counter() - t0
    print(
        f'[{name}] (b) rank: {rank_s:.3f} s for inher+explore+fused '
        f'(incl. fuse); peak {mem_rank.peak_mb:.0f} MB above its start '
        f'(fused matrix {out_mb / 2:.0f} MB)',
        flush=True)
    for branch, metrics in fast.items():
        print(f'[{name}]     {branch:7s} {fmt_metrics(metrics)}', flush=True)

    # (c) baseline
    baseline_s = math.nan
    if not args.skip_baseline:
        n_base = num_queries
        if args.baseline_queries:
            n_base = min(args.baseline_queries, num_queries)
        pos_np = positives.numpy()[:n_base]
        with PeakRSS() as mem_base:
            t0 = time.perf_counter()
            slow = {
                branch: baseline_retrieval_metrics(mat.numpy()[:n_base],
                                                   pos_np)
                for branch, mat in scores.items()
            }
            measured = time.perf_counter() - t0
        baseline_s = measured * num_queries / n_base
        if n_base < num_queries:
            print(
                f'[{name}] (c) baseline: {measured:.2f} s MEASURED on the '
                f'first {n_base}/{num_queries} queries -> EXTRAPOLATED '
                f'linearly to {baseline_s:.2f} s for all queries; peak '
                f'{mem_base.peak_mb:.0f} MB',
                flush=True)
        else:
            print(
                f'[{name}] (c) baseline: {baseline_s:.2f} s (all '
                f'{num_queries} queries, 3 matrices); peak '
                f'{mem_base.peak_mb:.0f} MB',
                flush=True)
            for branch in scores:
                diff = max(
                    abs(fast[branch][k] - slow[branch][k])
                    for k in fast[branch])
                print(
                    f'[{name}]     {branch:7s} max |fast - baseline| '
                    f'over metrics = {diff:.3g}',
                    flush=True)

    ratio = baseline_s / rank_s
    achieved = useful / scores_s / 1e9
    print(f'[{name}] loadavg={os.getloadavg()[0]:.2f} at the end', flush=True)
    print(
        f'eval_scale {name}: scores_s={scores_s:.3f} rank_s={rank_s:.3f} '
        f'baseline_rank_s={baseline_s:.3f} rank_ratio={ratio:.1f} '
        f'total_s={scores_s + rank_s:.3f} '
        f'{roofline_fields(useful, scores_s, max(peaks))} '
        f'{sustained_fields([achieved / sustained], [sustained])} '
        f'peak_mb={mem_scores.peak_mb:.1f} '
        f'fused_sumr={fast["fused"]["SumR"]:.4f} '
        f'{host_fields(resolve_precision(args.precision, args.device))}',
        flush=True)


def main() -> None:
    args = parse_args()
    if args.worker:
        run_scale(args.worker, args)
        return
    names = [s for s in args.scales.split(',') if s]
    unknown = [s for s in names if s not in SCALES]
    if unknown:
        raise SystemExit(f'unknown scales {unknown}; choose from '
                         f'{sorted(SCALES)}')
    forwarded = [a for a in sys.argv[1:]]
    for name in names:
        # a fresh process per scale: independent peak-memory accounting
        cmd = [
            sys.executable, '-m', 'benchmarks.eval_scale', *forwarded,
            '--worker', name
        ]
        proc = subprocess.run(cmd, cwd=ROOT)
        if proc.returncode:
            raise SystemExit(f'scale {name} failed ({proc.returncode})')


if __name__ == '__main__':
    main()
