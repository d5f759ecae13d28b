"""Train the toy ablation of DL-DKD and print its table (markdown).

``python tools/analysis/toy_ablation.py [--work-dir DIR] [--seeds 0 1 2]
[--no-train] [--cfg-options ...]``

Five configs of ``configs/toy`` are trained with ``tools/train.py CONFIG
--test-best`` (one subprocess each, logs in ``DIR/<config>/train.log``):
exploration only, inheritance only, both branches without distillation,
DL-DKD and DL-DKD++. Each row of the table gives the test SumR of the
inheritance branch, of the exploration branch and of the fused ranking
(for a one-branch model, its own ranking), the R@1 of what the model ranks
with, and the SumR of a random ranking on the same split. With several
seeds a cell is ``mean ± std`` over the runs. The table is printed and
written to ``DIR/ablation.md``, the numbers to ``DIR/ablation.json``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from prvr_mm.errors import PRVRDataError, PRVRError
from prvr_mm.utils.cli import add_debug_flag, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: (row label, config under configs/toy), in table order.
ROWS = (
    ('Exploration only', 'dlkd_toy-feats_1xb32-explore-only-20e_toy.py'),
    ('Inheritance only', 'dlkd_toy-feats_1xb32-inher-only-20e_toy.py'),
    ('Both branches, no KD', 'dlkd_toy-feats_1xb32-nokd-20e_toy.py'),
    ('DL-DKD', 'dlkd_toy-feats_1xb32-20e_toy.py'),
    ('DL-DKD++', 'dlkdpp_toy-feats_1xb32-20e_toy.py'),
)
COLUMNS = ('inher', 'explore', 'fused', 'R@1', 'random')
HEADER = ('| Setting | Inheritance SumR | Exploration SumR | Fused SumR | '
          'R@1 | Random SumR |')


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Train the toy ablation and print its table')
    parser.add_argument(
        '--work-dir',
        default=osp.join('work_dirs', 'toy_ablation'),
        help='one sub-folder per config (and per seed)')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=None,
        help='training seeds; default: the seed of the configs (one run)')
    parser.add_argument(
        '--no-train',
        action='store_true',
        help='only read the test_metrics.json files of an earlier run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed on to every tools/train.py run, e.g. data_root=...')
    add_debug_flag(parser)
    return parser.parse_args(argv)


class TrainingRunError(PRVRError, RuntimeError):
    """A training run of the ablation failed; its log names the cause."""


class MissingRunError(PRVRDataError, FileNotFoundError):
    """``--no-train`` without the results of an earlier run."""


def branches_of(config: str) -> Sequence[str]:
    """The branches a config's test evaluator ranks with."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    return tuple(cfg.test_evaluator.get('branches', ('inher', 'explore')))


def run_dir(work_dir: str, config: str, seed: Optional[int]) -> str:
    name = osp.splitext(osp.basename(config))[0]
    return osp.join(work_dir, name, '' if seed is None else f'seed{seed}')


def train(config: str, out_dir: str, seed: Optional[int],
          cfg_options: List[str]) -> float:
    """Run ``tools/train.py CONFIG --test-best``; returns its wall time."""
    os.makedirs(out_dir, exist_ok=True)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--test-best',
        '--work-dir', out_dir
    ]
    if seed is not None:
        cmd += ['--seed', str(seed)]
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    start = time.time()
    with open(osp.join(out_dir, 'train.log'), 'w') as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise TrainingRunError(
            f'{" ".join(cmd)} failed (exit {proc.returncode}); its error is '
            f'at the end of {osp.join(out_dir, "train.log")}')
    return time.time() - start


def row_values(metrics: Dict[str, float],
               branches: Sequence[str]) -> Dict[str, Optional[float]]:
    """One run's cells from its ``test_metrics.json``.

    A two-branch model reports the fused ranking unprefixed and each branch
    under ``prvr/<branch>/``; a one-branch model reports its only branch
    unprefixed.
    """
    values = dict.fromkeys(COLUMNS)
    if len(branches) == 2:
        for name in branches:
            values[name] = metrics[f'prvr/{name}/SumR']
        values['fused'] = metrics['prvr/SumR']
    else:
        values[branches[0]] = metrics['prvr/SumR']
    values['R@1'] = metrics['prvr/R@1']
    values['random'] = metrics['random/SumR']
    return values


def cell(values: Sequence[Optional[float]]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return '—'
    if len(values) == 1:
        return f'{values[0]:.1f}'
    return f'{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}'


def markdown(table: List[dict]) -> str:
    """The ablation table: one row per setting, ``table`` from
    :func:`main` (``label`` and ``runs``, a list of row values)."""
    lines = [HEADER, '|' + ' --- |' * (len(COLUMNS) + 1)]
    for row in table:
        cells = [cell([run[c] for run in row['runs']]) for c in COLUMNS]
        lines.append(f'| {row["label"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Run (or read) the ablation; returns the table rows."""
    args = parse_args(argv)
    seeds = args.seeds or [None]
    table, started = [], time.time()
    for label, name in ROWS:
        config = osp.join(ROOT, 'configs', 'toy', name)
        branches = branches_of(config)
        row = dict(label=label, config=f'configs/toy/{name}', runs=[])
        for seed in seeds:
            out_dir = run_dir(args.work_dir, config, seed)
            if not args.no_train:
                wall = train(config, out_dir, seed, args.cfg_options)
                print(f'{label} (seed {seed}): {wall:.0f} s', flush=True)
            path = osp.join(out_dir, 'test_metrics.json')
            if not osp.isfile(path):
                raise MissingRunError(
                    f'{path} not found: train first (without --no-train), '
                    'or pass the --work-dir of the earlier run')
            with open(path) as f:
                row['runs'].append(row_values(json.load(f), branches))
        table.append(row)
    text = markdown(table)
    print(text)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'ablation.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.work_dir, 'ablation.json'), 'w') as f:
        json.dump(dict(seeds=seeds, rows=table), f, indent=2)
    if not args.no_train:
        print(f'total wall time {time.time() - started:.0f} s')
    return table


if __name__ == '__main__':
    run_tool(main)
