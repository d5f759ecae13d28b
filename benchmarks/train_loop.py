"""Time real training iterations of a paper config through the MMEngine Runner.

What ``tools/train.py`` runs, on generated TVR-shaped data in the MS-SL
layout (written once under ``--data-root`` with the layout writers of
``prvr_mm.datasets.layout``): 600 training videos, 3072-d I3D+ResNet clip
features (32-160 clips per video), 512-d CLIP teacher frames (about as
many as clips), 2-5 queries per video of 4-30 768-d RoBERTa tokens, batch
128, read through ``PRVRFeatureDataset``, the config's pipeline, its
dataloader (workers as configured: ``'auto'`` = sized to the machine) and
the data preprocessor.

The config is run unchanged apart from: ``data_root``; no validation,
checkpoints or early stopping; an ``IterBasedTrainLoop`` of
``warmup + iters`` iterations over an ``InfiniteSampler`` (the steady state
inside a long epoch: real TVR epochs are 137 iterations, so epoch
boundaries are rare) and logging every 1000 iterations.

Per iteration a hook records the time waiting for the batch (``data_s``:
end of the previous iteration to ``before_train_iter``), the step
(``step_s``: ``model.train_step`` = preprocessing, forward, backward,
optimizer) and the whole iteration (``iter_s``, hooks included).  Right
after each timed iteration, once the loader workers are idle (their CPU
time stops growing: the next batches are ready), the same batch goes once
more through ``model.train_step`` alone (``isolated_s``: the same model,
optimizer and batch, no loader activity; not part of any ``iter_s``).
``overhead_pct = 100 * (median_i(iter_i / isolated_i) - 1)`` is what a real
iteration costs above the isolated step; pairing each iteration with its
own replay keeps a drift of a shared host out of the ratio.
Medians are reported.  The roofline: the useful matmul FLOPs of each
iteration's batch (:func:`roofline.step_flops`, valid rows only) over
``iter_s``, against the matmul peak measured in the same run.
``peak_mb``: peak RSS of the main process over the timed iterations (CPU;
``workers_peak_mb`` sums the loader workers' peak RSS), or
``torch.cuda.max_memory_allocated`` on CUDA.

Usage::

    python -m benchmarks.train_loop [--config configs/dlkdpp_tvr.py]
        [--data-root data/bench_train_loop] [--iters 5] [--warmup 2]
        [--device auto|cpu|cuda] [--workers N]
        [--cfg-options KEY=VALUE ...]

The last line is machine readable::

    train_loop tvr <device>: iter_s=.. data_s=.. step_s=.. isolated_s=..
        overhead_pct=.. workers=.. flops_g=.. achieved_gflops=..
        peak_gflops=.. pct_peak=.. peak_mb=.. workers_peak_mb=..
"""
import argparse
import json
import logging
import os
import os.path as osp
import statistics
import tempfile
import time
from collections import OrderedDict
from typing import Dict

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import prvr_mm  # noqa: F401  (stack fixes + registration)
from benchmarks.roofline import (PeakMemory, host_fields, matmul_peak_gflops,
                                 roofline_fields, step_flops, sync)
from prvr_mm.datasets.layout import (collection_paths, write_bigfile,
                                     write_captions, write_h5)
from prvr_mm.utils import (merge_config_options, resolve_dataloaders,
                           tune_cpu_allocator)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = dict(
    collection='tvr',
    videos=dict(train=600, val=8, test=8),
    queries=(2, 5),
    clips=(32, 160),
    teacher_jitter=0.15,
    tokens=(4, 30),
    video_dim=3072,
    query_dim=768,
    teacher_dim=512,
    seed=0)
WORDS = ('a', 'person', 'opens', 'the', 'door', 'then', 'walks', 'away', 'man',
         'picks', 'up', 'cup', 'woman', 'laughs', 'sits', 'down')


def make_data(root: str) -> str:
    """Write the TVR-shaped collection under ``root`` unless it is there.

    Returns:
        str: the collection folder (the configs' ``data_root``).
    """
    paths = collection_paths(root, DATA['collection'])
    stamp = osp.join(paths['dir'], 'bench_data.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == json.loads(json.dumps(DATA)):
                return paths['dir']
    print(
        f'writing the TVR-shaped benchmark collection to {paths["dir"]}',
        flush=True)
    for sub in ('TextData', 'FeatureData'):
        os.makedirs(osp.join(paths['dir'], sub), exist_ok=True)
    rng = np.random.default_rng(DATA['seed'])
    video, teacher = OrderedDict(), OrderedDict()
    tokens, sentences = OrderedDict(), OrderedDict()
    for split, num in DATA['videos'].items():
        captions = []
        for v in range(num):
            vid = f'tvr_{split}_{v:04d}'
            n = int(rng.integers(DATA['clips'][0], DATA['clips'][1] + 1))
            video[vid] = rng.standard_normal((n, DATA['video_dim']),
                                             dtype=np.float32)
            jitter = rng.uniform(-DATA['teacher_jitter'],
                                 DATA['teacher_jitter'])
            teacher[vid] = rng.standard_normal(
                (max(1, round(n * (1 + jitter))), DATA['teacher_dim']),
                dtype=np.float32)
            for q in range(
                    int(
                        rng.integers(DATA['queries'][0],
                                     DATA['queries'][1] + 1))):
                cap_id = f'{vid}#enc#{q}'
                length = int(
                    rng.integers(DATA['tokens'][0], DATA['tokens'][1] + 1))
                captions.append((cap_id, ' '.join(rng.choice(WORDS, length))))
                tokens[cap_id] = rng.standard_normal(
                    (length, DATA['query_dim']), dtype=np.float32)
                sentences[cap_id.replace('#enc#', '#')] = rng.standard_normal(
                    (1, DATA['teacher_dim']), dtype=np.float32)
        write_captions(paths[f'caption_{split}'], captions)
    write_h5(paths['text'], tokens)
    write_h5(paths['teacher_text'], sentences)
    write_h5(paths['teacher_video'], teacher)
    write_bigfile(paths['video'], video)
    with open(stamp, 'w') as f:
        json.dump(DATA, f)
    return paths['dir']


class IterationTimer(Hook):
    """Records per-iteration times and replays batches (see module
    docstring).  Registered twice, sharing ``records``: at the highest
    priority its ``after_train_iter`` marks the end of the step (before the
    other hooks); at the lowest priority ``before_train_iter`` marks the
    start of the step (after the other hooks) and ``after_train_iter`` the
    end of the iteration, then replays the batch once the workers are idle
    (from iteration ``warmup`` on) and marks when the loop resumes."""

    def __init__(self,
                 records: Dict[str, list],
                 last: bool,
                 warmup: int = 0) -> None:
        self.records = records
        self.last = last
        self.warmup = warmup

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.last:
            self.records['before'].append(time.perf_counter())

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        device = runner.model.data_preprocessor.device
        sync(device)
        now = time.perf_counter()
        if not self.last:
            self.records['step_end'].append(now)
            return
        self.records['end'].append(now)
        inputs = data_batch['inputs']
        sizes = data_batch.get('item_sizes')  # prvr_collate: packed keys
        videos = torch.tensor(
            sizes['video'] if sizes else [len(v) for v in inputs['video']])
        query_len = inputs['query_lengths']
        self.records['shapes'].append(
            (videos, query_len.cpu() if torch.is_tensor(query_len) else
             torch.cat([q.cpu() for q in query_len])))
        if len(self.records['end']) > self.warmup:
            _wait_children_idle()
            sync(device)
            t0 = time.perf_counter()
            runner.model.train_step(data_batch, runner.optim_wrapper)
            sync(device)
            self.records['isolated'].append(time.perf_counter() - t0)
        self.records['resume'].append(time.perf_counter())


def _child_pids():
    """PIDs of this process' children (the loader workers)."""
    for tid in os.listdir('/proc/self/task'):
        with open(f'/proc/self/task/{tid}/children') as f:
            yield from f.read().split()


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process' children so far."""
    total = 0.0
    tick = os.sysconf('SC_CLK_TCK')
    try:
        for pid in _child_pids():
            with open(f'/proc/{pid}/stat') as s:
                fields = s.read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        pass
    return total


def _wait_children_idle(quiet_s: float = 0.1, timeout_s: float = 30.0):
    """Wait until the loader workers use no CPU for ``quiet_s``."""
    deadline = time.perf_counter() + timeout_s
    last = _children_cpu_s()
    while time.perf_counter() < deadline:
        time.sleep(quiet_s)
        now = _children_cpu_s()
        if now == last:
            return
        last = now


def _child_peak_mb() -> float:
    """Sum of the peak RSS of this process' children (loader workers)."""
    total = 0.0
    try:
        for pid in _child_pids():
            with open(f'/proc/{pid}/status') as s:
                for line in s:
                    if line.startswith('VmHWM:'):
                        total += int(line.split()[1]) / 1024.0
    except OSError:
        return float('nan')
    return total


def build_cfg(args, data_root: str, work_dir: str) -> Config:
    """The paper config, pointed at the generated data, made iter-based."""
    cfg = Config.fromfile(args.config)
    options = dict(args.cfg_options or {})
    options['data_root'] = data_root
    if args.workers is not None:
        options['train_dataloader.num_workers'] = args.workers
    merge_config_options(cfg, options, args.config, work_dir)
    resolve_dataloaders(cfg)
    total = args.warmup + args.iters
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=total, val_interval=total + 1)
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1000)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if 'EarlyStopping' not in str(h.get('type'))
    ]
    cfg.param_scheduler = None  # the learning rate does not change timing
    cfg.log_level = 'WARNING'
    cfg.experiment_name = f'train_loop_{os.getpid()}'
    if args.device == 'cpu':
        cfg.setdefault('env_cfg', {})['dist_cfg'] = dict(backend='gloo')
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config', default=osp.join(ROOT, 'configs', 'dlkdpp_tvr.py'))
    parser.add_argument(
        '--data-root',
        default=osp.join(ROOT, 'data', 'bench_train_loop'),
        help='where the generated collection lives (written once)')
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help="train loader workers (default: the config's, 'auto' = sized "
        'to the machine)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default=None)
    args = parser.parse_args()
    if args.iters < 1 or args.warmup < 1:
        parser.error('--iters and --warmup must be >= 1')
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    device = torch.device(args.device)
    malloc = device.type == 'cpu' and tune_cpu_allocator()  # as train.py

    data_root = make_data(args.data_root)
    print(
        f'device={device} threads={torch.get_num_threads()} '
        f'loadavg={os.getloadavg()[0]:.2f} config={args.config} '
        f'data_root={data_root} malloc_tuned={malloc}',
        flush=True)
    peaks = [matmul_peak_gflops(device)]
    records: Dict[str, list] = dict(
        before=[], step_end=[], end=[], resume=[], shapes=[], isolated=[])
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = build_cfg(args, data_root, work_dir)
        workers = cfg.train_dataloader.num_workers
        print(
            f'train loader: batch_size={cfg.train_dataloader.batch_size} '
            f'num_workers={workers} persistent_workers='
            f'{cfg.train_dataloader.get("persistent_workers", False)} '
            f'pin_memory={cfg.train_dataloader.get("pin_memory", False)}',
            flush=True)
        runner = Runner.from_cfg(cfg)
        runner.logger.setLevel(logging.WARNING)
        runner.register_hook(IterationTimer(records, last=False), 'HIGHEST')
        runner.register_hook(
            IterationTimer(records, last=True, warmup=args.warmup), 'LOWEST')
        with PeakMemory(device) as mem:
            start = time.perf_counter()
            runner.train()
        loop_s = time.perf_counter() - start
        workers_peak = _child_peak_mb() if workers else 0.0
        del runner
    peaks.append(matmul_peak_gflops(device))
    peak = max(peaks)

    # iteration i: from the end of iteration i-1 (its replay excluded) to
    # its own end
    ends, befores, steps, resumes = (
        records[k] for k in ('end', 'before', 'step_end', 'resume'))
    isolated = records['isolated']
    timed = range(args.warmup, len(ends))
    iter_s = [ends[i] - resumes[i - 1] for i in timed]
    data_s = [befores[i] - resumes[i - 1] for i in timed]
    step_s = [steps[i] - befores[i] for i in timed]
    flops = []
    for i in timed:
        video_len, query_len = records['shapes'][i]
        flops.append(
            step_flops(
                video_len,
                query_len.clamp(max=cfg.model.inheritance.max_desc_l),
                DATA['video_dim'],
                DATA['query_dim'],
                cfg.model.inheritance.get('hidden_dim', 384),
                DATA['teacher_dim'],
                branches=2)['total'])
    for k, i in enumerate(timed):
        print(f'iter {i}: iter {iter_s[k]:.3f} s = data {data_s[k]:.3f} + '
              f'step {step_s[k]:.3f} + hooks '
              f'{iter_s[k] - data_s[k] - step_s[k]:.3f}; isolated '
              f'{isolated[k]:.3f} s; {flops[k] / 1e9:.1f} GFLOP')
    med = statistics.median
    overhead = 100.0 * (med([a / b for a, b in zip(iter_s, isolated)]) - 1)
    print(f'whole loop incl. start-up: {loop_s:.1f} s; peak memory: '
          f'{mem.note}; loadavg={os.getloadavg()[0]:.2f}')
    print(f'train_loop tvr {device.type}: iter_s={med(iter_s):.4f} '
          f'data_s={med(data_s):.4f} step_s={med(step_s):.4f} '
          f'isolated_s={med(isolated):.4f} overhead_pct={overhead:.1f} '
          f'workers={workers} '
          f'{roofline_fields(med(flops), med(iter_s), peak)} '
          f'peak_mb={mem.peak_mb:.1f} workers_peak_mb={workers_peak:.1f} '
          f'{host_fields("fp32")}')


if __name__ == '__main__':
    main()
