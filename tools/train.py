"""Train a PRVR model: ``python tools/train.py CONFIG [options]``."""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.cfg_options import CfgOptionsAction
from prvr_mm.utils.cli import add_debug_flag, run_tool


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
        help='mixed precision: on CUDA float16 with a dynamic loss scale '
        '(or the --amp-dtype), on CPU bfloat16 autocast (faster on CPUs '
        'with AMX / AVX512-BF16, slower elsewhere)')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        help='autocast dtype of --amp (implies --amp); default float16 on '
        'CUDA, bfloat16 on CPU')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate linearly by the actual total batch '
        'size (GPUs x batch per GPU) over auto_scale_lr.base_batch_size')
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


def load_config(path: str) -> Config:
    """``Config.fromfile``, with a named error for a missing file."""
    if not osp.isfile(path):
        raise PRVRConfigError(f'config file not found: {path}')
    return Config.fromfile(path)


def merge_args(cfg: Config, args) -> Config:
    """Merge the training flags into the config."""
    from prvr_mm.utils import (drop_custom_hooks, merge_config_options,
                               resolve_dataloaders, start_launcher)
    merge_config_options(cfg, args.cfg_options, args.config, args.work_dir)
    start_launcher(cfg, args.launcher)
    resolve_dataloaders(cfg)
    if args.amp or args.amp_dtype:
        from prvr_mm.utils.amp import use_amp
        use_amp(cfg, args.amp_dtype)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        from mmengine.runner import find_latest_checkpoint
        if not osp.isdir(cfg.work_dir) or \
                find_latest_checkpoint(cfg.work_dir) is None:
            print(f'--resume: no checkpoint to resume in {cfg.work_dir} '
                  '(no last_checkpoint file): training from scratch')
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.save_best = None
        drop_custom_hooks(cfg, ['EarlyStoppingHook'])
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise PRVRConfigError(
                f'{args.config}: --auto-scale-lr needs '
                'auto_scale_lr = dict(enable=False, base_batch_size=N) in '
                'the config (N: the total batch size its learning rate was '
                'tuned for)')
        cfg.auto_scale_lr.enable = True
    randomness = dict(cfg.get('randomness') or {})
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    return cfg


def start_run(cfg: Config, args):
    """Before the Runner is built: refuse settings that cannot work, resume
    a copied work dir from its own files, and take the work dir's lock
    (rank 0; released at exit). Returns the lock."""
    from prvr_mm.engine.run_checks import check_train_config
    from prvr_mm.engine.work_dir_lock import lock_work_dir
    check_train_config(cfg)
    lock = lock_work_dir(cfg.work_dir, args.launcher)
    if cfg.get('resume') and cfg.get('load_from') is None and \
            osp.isdir(cfg.work_dir):
        from mmengine.runner import find_latest_checkpoint
        latest = find_latest_checkpoint(cfg.work_dir)
        own = latest and osp.join(cfg.work_dir, osp.basename(latest))
        if latest and osp.dirname(osp.realpath(latest)) != osp.realpath(
                cfg.work_dir) and osp.isfile(own):
            # a copied work dir (cp -a A C): its last_checkpoint names A's
            print(f'--resume: {cfg.work_dir}/last_checkpoint names {latest}, '
                  f'outside this work dir: resuming its copy {own}')
            cfg.load_from = own
    return lock


def main():
    args = parse_args()
    import prvr_mm  # noqa: F401  (stack fixes before the config imports)
    from prvr_mm.engine.run_checks import check_runner_batches
    from prvr_mm.utils import finish_distributed, tune_cpu_allocator
    from prvr_mm.utils.checkpoint_loader import register_checkpoint_loader
    if not torch.cuda.is_available():
        tune_cpu_allocator()  # reuse big tensor blocks: no page faults
    register_checkpoint_loader()  # named errors for load_from / --resume
    cfg = merge_args(load_config(args.config), args)
    start_run(cfg, args)  # checks, work dir lock
    runner = Runner.from_cfg(cfg)
    check_runner_batches(runner)  # before the first iteration
    runner.train()
    if args.test_best:
        from prvr_mm.engine.best_checkpoint import test_best_checkpoint
        metrics = test_best_checkpoint(runner)
        if runner.rank == 0:
            print(json.dumps(metrics, indent=2))
            path = osp.join(runner.work_dir, 'test_metrics.json')
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=2)
    finish_distributed()  # every rank got here: no collective is pending


if __name__ == '__main__':
    run_tool(main)
