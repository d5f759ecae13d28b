"""Evaluate a PRVR checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import json
import os

from mmengine.config import Config
from mmengine.runner import Runner

from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.cfg_options import CfgOptionsAction
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.hardware import PRECISIONS


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
        '--precision',
        choices=PRECISIONS,
        help="precision of the test metric's query x clip products (default: "
        "the config's, fp32 for the published numbers; auto: bf16 where "
        'this machine runs it faster)')
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
    add_debug_flag(parser)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    import prvr_mm  # noqa: F401  (stack fixes before the config imports)
    from prvr_mm.utils import (finish_distributed, merge_config_options,
                               resolve_dataloaders, start_launcher,
                               strip_training)
    from prvr_mm.utils.checkpoint_loader import register_checkpoint_loader
    register_checkpoint_loader()  # named errors for the checkpoint file
    if not os.path.isfile(args.config):
        raise PRVRConfigError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    merge_config_options(cfg, args.cfg_options, args.config, args.work_dir)
    start_launcher(cfg, args.launcher)
    resolve_dataloaders(cfg)
    strip_training(cfg)  # evaluation opens no training or teacher file
    cfg.load_from = args.checkpoint
    cfg.resume = False
    evaluator = cfg.test_evaluator
    evaluator = evaluator if isinstance(evaluator, dict) else evaluator[0]
    if args.dump:
        evaluator['dump_rankings'] = args.dump
        evaluator['dump_topk'] = args.dump_topk
    if args.precision:
        evaluator['precision'] = args.precision
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        print(json.dumps(metrics, indent=2))
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(metrics, f, indent=2)
    finish_distributed()  # every rank got here: no collective is pending


if __name__ == '__main__':
    run_tool(main)
