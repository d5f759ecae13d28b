"""Evaluate a PRVR checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import json
import os
import sys

from mmengine.config import Config
from mmengine.runner import Runner

from prvr_mm.utils.cfg_options import CfgOptionsAction


def parse_args():
    parser = argparse.ArgumentParser(description='Test a PRVR model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument(
        '--out', help='write the final metrics as JSON to this file')
    parser.add_argument(
        '--dump',
        help='write, for each query, its top-ranked videos with scores and '
        'moment hints as JSON to this file')
    parser.add_argument(
        '--dump-topk',
        type=int,
        default=100,
        help='videos per query in '
        '--dump')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override settings of the config, key=value (a top-level '
        'data_root=... also moves every dataset)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    import prvr_mm  # noqa: F401  (stack fixes before the config imports)
    from prvr_mm.utils import (CheckpointFileError, CheckpointMismatchError,
                               finish_distributed, merge_cli_options,
                               strip_training)
    cfg = Config.fromfile(args.config)
    merge_cli_options(cfg, args.cfg_options, args.config, args.work_dir,
                      args.launcher)
    strip_training(cfg)  # evaluation opens no training or teacher file
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.dump:
        evaluator = cfg.test_evaluator
        evaluator = evaluator if isinstance(evaluator, dict) else \
            evaluator[0]
        evaluator['dump_rankings'] = args.dump
        evaluator['dump_topk'] = args.dump_topk
    runner = Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except (CheckpointFileError, CheckpointMismatchError,
            FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    if runner.rank == 0:
        print(json.dumps(metrics, indent=2))
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(metrics, f, indent=2)
    finish_distributed()  # every rank got here: no collective is pending


if __name__ == '__main__':
    main()
