"""Time one full DL-DKD(++) training step at TVR dimensions.

A step is what the MMEngine loop runs per iteration:
``DualStudentRecognizer.train_step`` = data preprocessor (pass-through for
an already padded batch), forward with ``mode='loss'`` (both student
branches, the CLIP teacher scores, triplet + InfoNCE + KL losses), backward
and an AdamW step through an MMEngine :class:`OptimWrapper`.

TVR setting: 128 videos x 5 queries (640 queries), I3D+ResNet clip features
3072-d x <= 128 clips, RoBERTa token features 768-d x <= 30 tokens, CLIP
ViT-B/32 features 512-d, hidden 384, 4 heads, hard_pool_size 20.  Lengths
are random (the longest video / query fills the padding).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only,
reset after the batch and the model are on the device); on CPU the
process' peak resident set size ``VmHWM`` from ``/proc/self/status``, reset
through ``/proc/self/clear_refs`` just before the first step when the kernel
allows it, so it covers interpreter + libraries + model + batch + the
training steps (it is not a tensor-only figure).

Usage::

    python benchmarks/train_step.py [--device auto|cpu|cuda] [--steps 10]
        [--warmup 2] [--threads N] [--label-style soft|hard]

The last line is ``train_step tvr <device>: median_s=<s> peak_mb=<MiB>``.
"""
import argparse
import logging
import statistics
import time
from typing import Dict, Optional

import torch
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

import prvr_mm  # noqa: F401  (stack fixes + registration)

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


def build_model(label_style: str) -> torch.nn.Module:
    branch = dict(
        type='PRVRBranch',
        video_dim=TVR['video_dim'],
        query_dim=TVR['query_dim'],
        hidden_dim=TVR['hidden_dim'],
        max_ctx_l=TVR['max_clips'],
        max_desc_l=TVR['max_tokens'],
        num_heads=TVR['num_heads'])
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=branch,
            teacher=dict(
                type='CLIPTeacherHead', feature_dim=TVR['teacher_dim']),
            loss_triplet=dict(
                type='TripletRankingLoss',
                margin=0.2,
                hard_pool_size=TVR['hard_pool_size']),
            loss_nce=dict(type='InfoNCELoss', loss_weight=0.04),
            loss_distill=dict(
                type='FrameKLDistillLoss', temperature=0.2, loss_weight=0.1),
            label_style=label_style))
    model.set_schedule(kd_weight=1.0, alpha=0.8, beta=0.8)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one INFO record per parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


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


def make_batch(device: torch.device, seed: int = 0) -> Dict[str, torch.Tensor]:
    """The batch dict of :class:`PRVRDataPreprocessor` (already padded)."""
    gen = torch.Generator().manual_seed(seed)
    nv, per = TVR['num_videos'], TVR['queries_per_video']
    nq = nv * per
    video_mask = _mask(
        _lengths(nv, TVR['max_clips'] // 4, TVR['max_clips'], gen),
        TVR['max_clips'])
    query_mask = _mask(
        _lengths(nq, 4, TVR['max_tokens'], gen), TVR['max_tokens'])
    batch = dict(
        video=_features(video_mask, TVR['video_dim'], gen, True),
        video_mask=video_mask,
        query=_features(query_mask, TVR['query_dim'], gen, True),
        query_mask=query_mask,
        query_to_video=torch.arange(nv).repeat_interleave(per),
        teacher_video=_features(video_mask, TVR['teacher_dim'], gen, False),
        teacher_query=torch.randn(nq, TVR['teacher_dim'], generator=gen))
    return {k: v.to(device) for k, v in batch.items()}


def _reset_cpu_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


def _cpu_peak_mb() -> Optional[float]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        pass
    return None


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def run(device: torch.device, steps: int, warmup: int,
        label_style: str) -> Dict[str, float]:
    torch.manual_seed(0)
    model = build_model(label_style).to(device).train()
    optim_wrapper = OptimWrapper(
        optimizer=torch.optim.AdamW(
            model.parameters(), lr=1e-4, weight_decay=0.01))
    data = dict(inputs=make_batch(device))
    nq = data['inputs']['query'].shape[0]
    print(f'device={device} threads={torch.get_num_threads()} '
          f'label_style={label_style} videos={TVR["num_videos"]} '
          f'queries={nq} clips<={TVR["max_clips"]}x{TVR["video_dim"]} '
          f'tokens<={TVR["max_tokens"]}x{TVR["query_dim"]} '
          f'teacher={TVR["teacher_dim"]} hidden={TVR["hidden_dim"]} '
          f'params={sum(p.numel() for p in model.parameters())}')

    _sync(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        peak_note = 'torch.cuda.max_memory_allocated'
    else:
        peak_note = 'VmHWM (process peak RSS' + (
            ', reset before the first step)'
            if _reset_cpu_peak() else ', since process start)')

    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        log_vars = model.train_step(data, optim_wrapper)
        _sync(device)
        elapsed = time.perf_counter() - start
        kind = 'warmup' if i < warmup else 'step'
        loss = log_vars['loss']
        loss = loss.item() if torch.is_tensor(loss) else float(loss)
        print(f'{kind} {i}: {elapsed:.3f} s loss={loss:.4f}')
        if i >= warmup:
            times.append(elapsed)

    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = _cpu_peak_mb() or float('nan')
    print(f'peak memory: {peak_note}')
    return dict(median_s=statistics.median(times), peak_mb=peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--threads', type=int, help='torch intra-op threads (CPU)')
    parser.add_argument(
        '--label-style', default='soft', choices=('soft', 'hard'))
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error('--steps must be >= 1 and --warmup >= 0')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    device = torch.device(args.device)
    result = run(device, args.steps, args.warmup, args.label_style)
    print(f'train_step tvr {device.type}: median_s={result["median_s"]:.4f} '
          f'peak_mb={result["peak_mb"]:.1f}')


if __name__ == '__main__':
    main()
