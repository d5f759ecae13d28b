"""Time one full DL-DKD(++) training step at TVR dimensions, with a roofline.

A step is what the MMEngine loop runs per iteration:
``DualStudentRecognizer.train_step`` = data preprocessor (pass-through for
an already padded batch), forward with ``mode='loss'`` (both student
branches, the CLIP teacher scores, triplet + InfoNCE + KL losses), backward
and an AdamW step through an MMEngine :class:`OptimWrapper`.

TVR setting: 128 videos x 5 queries (640 queries), I3D+ResNet clip features
3072-d x <= 128 clips, RoBERTa token features 768-d x <= 30 tokens, CLIP
ViT-B/32 features 512-d, hidden 384, 4 heads, hard_pool_size 20.  Lengths
are random (the longest video / query fills the padding).

In the same run, on the same batch, the script times the *authors-style*
step of ``benchmarks/reference_step.py`` (the same maths written the way
the authors' code does it: full padding, separate cosine and raw score
products, additive -10000 / -1e10 masks, written-out attention, Python
loops in the losses; it reproduces the golden losses of the parity
fixture), with the same AdamW optimizer.  The two are timed in turn (ours,
reference, ours, ...), so a shared machine whose speed drifts slows both
alike; ``cpu_speedup_vs_reference`` compares their process CPU times.

Roofline: ``flops_g`` is the useful matmul work of the step counted from
the shapes run, on valid rows only (:func:`roofline.step_flops`: valid
clips and tokens, valid attention pairs, one query x clip product per
branch; padded work is NOT counted); both steps are rated against it
(``achieved_gflops = flops_g / median_s``), and ``pct_peak`` compares that
with the machine's matmul peak measured in the same run (a 2048^3 GEMM on
the same device and threads; float32, or the autocast dtype with
``--amp``).  The FLOPs each implementation actually executes (padding and
duplicate products included) are counted once with
``torch.utils.flop_counter.FlopCounterMode`` and printed for reference.
After each of our timed steps the same GEMM runs back to back for as long
as the step took (``--no-sustained`` skips it): ``pct_sustained`` is the
median over steps of the step's achieved GFLOP/s over that sustained GEMM
throughput.  On a shared host the best short probe (``peak_gflops``) sits
5-25 % above what the GEMM sustains for seconds, so ``pct_peak`` is the
conservative figure and ``pct_sustained`` compares like with like.

On CPU the glibc allocator is tuned first, as ``tools/train.py`` does
(``prvr_mm.utils.tune_cpu_allocator``: large blocks stay on the heap, no
page faults per step; ``PRVR_MM_KEEP_MALLOC=1`` opts out); it serves both
steps.

Peak memory (``peak_mb``): on CUDA ``torch.cuda.max_memory_allocated``
(tensors only); on CPU the process' peak resident set size over the timed
steps (``VmHWM`` reset through ``/proc/self/clear_refs``: interpreter +
libraries + model + optimizer state + batch + the steps).  ``cpu_s`` is
the median process CPU time of a step (all threads): on a shared machine
it moves less than the wall time.

Usage::

    python -m benchmarks.train_step [--device auto|cpu|cuda] [--steps 5]
        [--warmup 1] [--threads N] [--label-style soft|hard]
        [--reference-steps 3 | --no-reference] [--amp [float16|bfloat16]]
        [--compile] [--no-sustained]

The last two lines are machine readable::

    train_step_reference tvr <device>: median_s=.. flops_g=..
        achieved_gflops=.. peak_gflops=.. pct_peak=.. peak_mb=..
    train_step tvr <device>: median_s=.. flops_g=.. achieved_gflops=..
        peak_gflops=.. pct_peak=.. peak_mb=.. cpu_s=..
        speedup_vs_reference=.. cpu_speedup_vs_reference=..
        sustained_gflops=.. pct_sustained=..
"""
import argparse
import logging
import os
import statistics
import time
from typing import Callable, Dict, Optional, Sequence

import torch
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper

import prvr_mm  # noqa: F401  (stack fixes + registration)
from benchmarks.reference_step import AuthorsStyleDLDKD
from benchmarks.roofline import (PeakMemory, counted_flops, host_fields,
                                 matmul_peak_gflops, roofline_fields,
                                 step_flops, sustained_fields,
                                 sustained_matmul_gflops, sync)
from prvr_mm.engine import CPUAmpOptimWrapper

try:  # what tools/train.py does on CPU (applies to both steps here)
    from prvr_mm.utils import tune_cpu_allocator
except ImportError:  # an older tree (measuring a commit from before)

    def tune_cpu_allocator() -> bool:
        return False


TVR = dict(
    num_videos=128,
    queries_per_video=5,
    max_clips=128,
    video_dim=3072,
    max_tokens=30,
    query_dim=768,
    teacher_dim=512,
    hidden_dim=384,
    num_heads=4,
    hard_pool_size=20)
AMP_DTYPES = dict(float16=torch.float16, bfloat16=torch.bfloat16)


def build_model(label_style: str,
                compile_branches: Optional[dict] = None) -> torch.nn.Module:
    branch = dict(
        type='PRVRBranch',
        video_dim=TVR['video_dim'],
        query_dim=TVR['query_dim'],
        hidden_dim=TVR['hidden_dim'],
        max_ctx_l=TVR['max_clips'],
        max_desc_l=TVR['max_tokens'],
        num_heads=TVR['num_heads'])
    cfg = dict(
        type='DualStudentRecognizer',
        inheritance=branch,
        teacher=dict(type='CLIPTeacherHead', feature_dim=TVR['teacher_dim']),
        loss_triplet=dict(
            type='TripletRankingLoss',
            margin=0.2,
            hard_pool_size=TVR['hard_pool_size']),
        loss_nce=dict(type='InfoNCELoss', loss_weight=0.04),
        loss_distill=dict(
            type='FrameKLDistillLoss', temperature=0.2, loss_weight=0.1),
        label_style=label_style)
    if compile_branches is not None:
        cfg['compile_branches'] = compile_branches
    model = MODELS.build(cfg)
    if hasattr(model, 'set_schedule'):
        model.set_schedule(kd_weight=1.0, alpha=0.8, beta=0.8)
    else:  # an older tree: plain attributes
        model.kd_weight, model.alpha, model.beta = 1.0, 0.8, 0.8
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one INFO record per parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def build_reference(label_style: str) -> torch.nn.Module:
    """The authors-style model with the same dimensions and settings."""
    return AuthorsStyleDLDKD(
        video_dim=TVR['video_dim'],
        query_dim=TVR['query_dim'],
        hidden=TVR['hidden_dim'],
        max_ctx_l=TVR['max_clips'],
        max_desc_l=TVR['max_tokens'],
        heads=TVR['num_heads'],
        margin=0.2,
        hard_pool_size=TVR['hard_pool_size'],
        label_style=label_style,
        alpha=0.8,
        beta=0.8,
        kd_weight=1.0)


def _lengths(num: int, low: int, high: int,
             gen: torch.Generator) -> torch.Tensor:
    lengths = torch.randint(low, high + 1, (num, ), generator=gen)
    lengths[0] = high  # the padded length is the maximum
    return lengths


def _mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return (torch.arange(max_len)[None] < lengths[:, None]).float()


def _features(mask: torch.Tensor, dim: int, gen: torch.Generator,
              normalize: bool) -> torch.Tensor:
    feats = torch.randn(*mask.shape, dim, generator=gen)
    if normalize:  # the student inputs are l2-normalised like the dataset
        feats = torch.nn.functional.normalize(feats, dim=-1)
    return feats * mask[..., None]


def make_batch(device: torch.device,
               seed: int = 0,
               full: bool = False) -> Dict[str, torch.Tensor]:
    """The batch dict of :class:`PRVRDataPreprocessor` (already padded);
    ``full``: every clip and token valid (no padding)."""
    gen = torch.Generator().manual_seed(seed)
    nv, per = TVR['num_videos'], TVR['queries_per_video']
    nq = nv * per
    low_clips = TVR['max_clips'] if full else TVR['max_clips'] // 4
    low_tokens = TVR['max_tokens'] if full else 4
    video_mask = _mask(
        _lengths(nv, low_clips, TVR['max_clips'], gen), TVR['max_clips'])
    query_mask = _mask(
        _lengths(nq, low_tokens, TVR['max_tokens'], gen), TVR['max_tokens'])
    batch = dict(
        video=_features(video_mask, TVR['video_dim'], gen, True),
        video_mask=video_mask,
        query=_features(query_mask, TVR['query_dim'], gen, True),
        query_mask=query_mask,
        query_to_video=torch.arange(nv).repeat_interleave(per),
        teacher_video=_features(video_mask, TVR['teacher_dim'], gen, False),
        teacher_query=torch.randn(nq, TVR['teacher_dim'], generator=gen))
    return {k: v.to(device) for k, v in batch.items()}


def useful_flops(batch: Dict[str, torch.Tensor]) -> float:
    """Useful matmul FLOPs of one step on ``batch`` (valid rows only)."""
    return step_flops(
        batch['video_mask'].sum(1).cpu(),
        batch['query_mask'].sum(1).cpu(),
        TVR['video_dim'],
        TVR['query_dim'],
        TVR['hidden_dim'],
        TVR['teacher_dim'],
        branches=2)['total']


def _warm(name: str, step, device: torch.device, warmup: int) -> None:
    for i in range(warmup):
        start = time.perf_counter()
        loss = step()
        sync(device)
        print(
            f'{name} warmup {i}: {time.perf_counter() - start:.3f} s '
            f'loss={loss:.4f}',
            flush=True)


def _peak_mb(name: str, step, device: torch.device) -> float:
    """Peak memory of one step of ``step`` alone."""
    with PeakMemory(device) as mem:
        step()
        sync(device)
    print(f'{name} peak memory: {mem.note}')
    return mem.peak_mb


def _timed_interleaved(steps: Dict[str, Callable[[], float]],
                       counts: Dict[str, int],
                       device: torch.device,
                       sustained_after: Sequence[str] = (),
                       peak_dtype: torch.dtype = torch.float32
                       ) -> Dict[str, Dict[str, object]]:
    """Time the steps of every entry in turn (A B A B ...), so that a
    machine whose speed drifts (a shared host) slows both alike; median
    wall and process CPU time per entry.  After each step of an entry named
    in ``sustained_after``, GEMMs run back to back for as long as that step
    took (:func:`roofline.sustained_matmul_gflops`): ``times`` and
    ``sustained`` list the pairs."""
    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    sustained = {name: [] for name in steps}
    for i in range(max(counts.values())):
        for name, step in steps.items():
            if i >= counts[name]:
                continue
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            loss = step()
            sync(device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            note = ''
            if name in sustained_after:
                sustained[name].append(
                    sustained_matmul_gflops(device, times[name][-1],
                                            peak_dtype))
                note = (f'; GEMMs sustained over as long: '
                        f'{sustained[name][-1]:.1f} GFLOP/s')
            print(
                f'{name} step {i}: {times[name][-1]:.3f} s (process CPU '
                f'{cpu[name][-1]:.2f} s) loss={loss:.4f}{note}',
                flush=True)
    return {
        name:
        dict(
            median_s=statistics.median(times[name]),
            cpu_s=statistics.median(cpu[name]),
            times=times[name],
            sustained=sustained[name])
        for name in steps
    }


def ours_step(device: torch.device, data: dict, args) -> Callable[[], float]:
    """One training step of our model (built here) as a callable."""
    torch.manual_seed(0)
    compile_cfg = dict() if args.compile else None
    model = build_model(args.label_style, compile_cfg).to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, weight_decay=0.01)
    if args.amp and device.type == 'cpu':  # bf16 autocast (--amp on CPU)
        optim_wrapper = CPUAmpOptimWrapper(optimizer=optimizer)
    elif args.amp:
        optim_wrapper = AmpOptimWrapper(
            optimizer=optimizer,
            dtype=AMP_DTYPES[args.amp],
            loss_scale='dynamic' if args.amp == 'float16' else 1.0)
    else:
        optim_wrapper = OptimWrapper(optimizer=optimizer)
    print(f'ours: params={sum(p.numel() for p in model.parameters())} '
          f'amp={args.amp} compile={args.compile}')

    def step() -> float:
        log_vars = model.train_step(data, optim_wrapper)
        loss = log_vars['loss']
        return loss.item() if torch.is_tensor(loss) else float(loss)

    return step


def reference_step(device: torch.device, data: dict,
                   args) -> Callable[[], float]:
    """One authors-style step (built here) as a callable."""
    torch.manual_seed(0)
    model = build_reference(args.label_style).to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, weight_decay=0.01)
    batch = data['inputs']
    print(f'reference (authors-style): '
          f'params={sum(p.numel() for p in model.parameters())}')

    def step() -> float:
        loss = model(batch)['loss']
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--reference-steps',
        type=int,
        default=3,
        help='timed steps of the authors-style reference (default 3)')
    parser.add_argument(
        '--no-reference',
        action='store_true',
        help='skip the authors-style reference step')
    parser.add_argument(
        '--no-sustained',
        action='store_true',
        help='skip the sustained GEMM run after each of our steps')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch intra-op threads (CPU; default: torch default = cores)')
    parser.add_argument(
        '--label-style', default='soft', choices=('soft', 'hard'))
    parser.add_argument(
        '--amp',
        nargs='?',
        const='auto',
        choices=sorted(AMP_DTYPES) + ['auto'],
        help='mixed precision: AmpOptimWrapper on CUDA (float16 with a '
        'dynamic loss scale by default), CPUAmpOptimWrapper (bfloat16 '
        'autocast) on CPU')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the branches (model compile_branches=dict())')
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.reference_steps < 1:
        parser.error('--steps and --reference-steps must be >= 1, '
                     '--warmup >= 0')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    if args.amp == 'auto':
        args.amp = 'float16' if args.device == 'cuda' else 'bfloat16'
    if args.amp == 'float16' and args.device != 'cuda':
        parser.error('--amp float16 needs --device cuda (CPU autocast runs '
                     'in bfloat16)')
    device = torch.device(args.device)
    malloc = device.type == 'cpu' and tune_cpu_allocator()
    peak_dtype = AMP_DTYPES[args.amp] if args.amp else torch.float32
    print(f'device={device} threads={torch.get_num_threads()} '
          f'loadavg={os.getloadavg()[0]:.2f} label_style={args.label_style} '
          f'videos={TVR["num_videos"]} queries='
          f'{TVR["num_videos"] * TVR["queries_per_video"]} '
          f'clips<={TVR["max_clips"]}x{TVR["video_dim"]} '
          f'tokens<={TVR["max_tokens"]}x{TVR["query_dim"]} '
          f'teacher={TVR["teacher_dim"]} hidden={TVR["hidden_dim"]} '
          f'malloc_tuned={malloc}')
    peaks = [matmul_peak_gflops(device, peak_dtype)]
    print(
        f'matmul peak ({str(peak_dtype)[6:]}, 2048^3 GEMM, best of 5): '
        f'{peaks[0]:.1f} GFLOP/s',
        flush=True)

    data = dict(inputs=make_batch(device))
    flops = useful_flops(data['inputs'])
    steps = dict(ours=ours_step(device, data, args))
    counts = dict(ours=args.steps)
    if not args.no_reference:
        steps['reference'] = reference_step(device, data, args)
        counts['reference'] = args.reference_steps
    results = {name: dict() for name in steps}
    for name, step in steps.items():
        _warm(name, step, device,
              args.warmup if name == 'ours' else min(args.warmup, 1))
        results[name]['peak_mb'] = _peak_mb(name, step, device)
        results[name]['executed'] = counted_flops(step)
    timed = _timed_interleaved(steps, counts, device,
                               () if args.no_sustained else ('ours', ),
                               peak_dtype)
    for name, timing in timed.items():
        results[name].update(timing)
    ours, ref = results['ours'], results.get('reference')
    peaks.append(matmul_peak_gflops(device, peak_dtype))
    peak = max(peaks)
    print(f'matmul peak again: {peaks[1]:.1f} GFLOP/s; using the best, '
          f'{peak:.1f}; loadavg={os.getloadavg()[0]:.2f}')
    print(
        f'FLOPs: useful {flops / 1e9:.1f} G (valid rows, one product '
        f'per branch); executed (FlopCounterMode): ours '
        f'{ours["executed"] / 1e9:.1f} G' +
        ('' if ref is None else f', reference {ref["executed"] / 1e9:.1f} G'))
    kind = device.type
    if ref is not None:
        print(f'train_step_reference tvr {kind}: '
              f'median_s={ref["median_s"]:.4f} '
              f'{roofline_fields(flops, ref["median_s"], peak)} '
              f'peak_mb={ref["peak_mb"]:.1f} cpu_s={ref["cpu_s"]:.2f} '
              f'{host_fields("fp32")}')
    precision = {None: 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16'}
    line = (f'train_step tvr {kind}: median_s={ours["median_s"]:.4f} '
            f'{roofline_fields(flops, ours["median_s"], peak)} '
            f'peak_mb={ours["peak_mb"]:.1f} cpu_s={ours["cpu_s"]:.2f} '
            f'{host_fields(precision[args.amp])}')
    if ref is not None:
        speedup = ref['median_s'] / ours['median_s']
        cpu_speedup = ref['cpu_s'] / ours['cpu_s']
        line += (f' speedup_vs_reference={speedup:.2f} '
                 f'cpu_speedup_vs_reference={cpu_speedup:.2f}')
    if ours['sustained']:
        ratios = [
            flops / t / 1e9 / g
            for t, g in zip(ours['times'], ours['sustained'])
        ]
        line += ' ' + sustained_fields(ratios, ours['sustained'])
    print(line)


if __name__ == '__main__':
    main()
