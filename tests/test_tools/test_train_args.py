"""``tools/train.py`` flags merged into the config: ``--auto-scale-lr``
(mmaction2 semantics), ``--seed`` / ``--deterministic`` (keeping the other
``randomness`` switches)."""
import importlib.util
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')


def merged(*argv):
    spec = importlib.util.spec_from_file_location(
        '_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    old, sys.argv = sys.argv, ['tools/train.py', CFG, *argv]
    try:
        args = train.parse_args()
    finally:
        sys.argv = old
    return train.merge_args(Config.fromfile(CFG), args)


def test_auto_scale_lr_scales_by_total_batch(tiny_toy_root, tmp_path):
    cfg = merged('--auto-scale-lr', '--work-dir', str(tmp_path),
                 '--cfg-options', f'data_root={tiny_toy_root}',
                 'experiment_name=auto_scale_lr')
    base = cfg.auto_scale_lr.base_batch_size
    assert cfg.auto_scale_lr.enable is True and base > 8
    lr = cfg.optim_wrapper.optimizer.lr
    runner = Runner.from_cfg(cfg)
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    runner.scale_lr(wrapper, runner.auto_scale_lr)
    # 1 process x batch 8 over the config's base batch size
    for group in wrapper.optimizer.param_groups:
        assert abs(group['lr'] - lr * 8 / base) < 1e-12
    assert merged().auto_scale_lr.enable is False


def test_seed_flags_keep_other_randomness_switches():
    cfg = merged('--seed', '7', '--deterministic', '--cfg-options',
                 'randomness.diff_rank_seed=True')
    assert cfg.randomness == dict(
        seed=7, deterministic=True, diff_rank_seed=True)
    assert merged().randomness['seed'] == 0  # the config's own seed
