"""Train a PRVR model: ``python tools/train.py CONFIG [options]``."""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner


def parse_args():
    parser = argparse.ArgumentParser(description='Train a PRVR model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision (CUDA only): float16 with a dynamic loss '
        'scale, or the --amp-dtype')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        help='autocast dtype of --amp (implies --amp); default float16')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--test-best',
        action='store_true',
        help='after training, evaluate the best checkpoint on the test split')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='whether to set deterministic options for CUDNN backend')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
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


def merge_args(cfg: Config, args) -> Config:
    """Merge the training flags into the config."""
    from prvr_mm.utils import drop_custom_hooks, merge_cli_options
    merge_cli_options(cfg, args.cfg_options, args.config, args.work_dir,
                      args.launcher)
    if args.amp or args.amp_dtype:
        from prvr_mm.utils.amp import use_amp
        use_amp(cfg, args.amp_dtype or 'float16')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.save_best = None
        drop_custom_hooks(cfg, ['EarlyStoppingHook'])
    if args.seed is not None:
        cfg.randomness = dict(seed=args.seed, deterministic=args.deterministic)
    return cfg


def main():
    args = parse_args()
    import prvr_mm  # noqa: F401  (stack fixes before the config imports)
    from prvr_mm.utils import tune_cpu_allocator
    if not torch.cuda.is_available():
        tune_cpu_allocator()  # reuse big tensor blocks: no page faults
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if args.test_best:
        from prvr_mm.apis import test_best_checkpoint
        metrics = test_best_checkpoint(runner)
        if runner.rank == 0:
            print(json.dumps(metrics, indent=2))
            path = osp.join(runner.work_dir, 'test_metrics.json')
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
