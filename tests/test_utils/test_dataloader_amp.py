"""Loader workers sized to the machine; the --amp dtype plumbing."""
import os.path as osp

import pytest
from mmengine.config import Config

from prvr_mm.utils import dataloader as dl
from prvr_mm.utils.amp import use_amp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize(
    'cpus,world,cuda,expected',
    [
        (2, None, False, 1),  # CPU training: one worker beside the step
        (1, None, False, 0),
        (2, None, True, 1),
        (32, None, True, 8),  # capped
        (32, '8', True, 3),  # torchrun: 8 processes share the CPUs
        (32, '4(x2)', True, 7),  # Slurm's tasks-per-node form
    ])
def test_auto_num_workers(monkeypatch, cpus, world, cuda, expected):
    monkeypatch.setattr(dl, 'available_cpus', lambda: cpus)
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    monkeypatch.delenv('SLURM_NTASKS_PER_NODE', raising=False)
    if world is not None:
        var = 'SLURM_NTASKS_PER_NODE' if '(' in world else 'LOCAL_WORLD_SIZE'
        monkeypatch.setenv(var, world)
    assert dl.auto_num_workers(cuda=cuda) == expected


def test_resolve_dataloaders_of_a_paper_config(monkeypatch):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dlkdpp_tvr.py'))
    assert cfg.train_dataloader.num_workers == 'auto'
    cfg.test_dataloader = dict(cfg.test_dataloader, num_workers=3)
    monkeypatch.setattr(dl, 'available_cpus', lambda: 1)
    dl.resolve_dataloaders(cfg, cuda=False)
    assert cfg.train_dataloader.num_workers == 0
    assert 'persistent_workers' not in cfg.train_dataloader  # 0 workers
    assert cfg.test_dataloader.num_workers == 3  # an explicit number wins
    assert 'pin_memory' not in cfg.train_dataloader
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dlkdpp_tvr.py'))
    monkeypatch.setattr(dl, 'available_cpus', lambda: 4)
    dl.resolve_dataloaders(cfg, cuda=True)
    assert cfg.train_dataloader.num_workers == 3
    assert cfg.train_dataloader.persistent_workers is True
    assert cfg.train_dataloader.pin_memory is True
    cfg.val_dataloader.num_workers = 'many'
    with pytest.raises(ValueError, match='val_dataloader.num_workers'):
        dl.resolve_dataloaders(cfg, cuda=True)


def test_use_amp_dtype_plumbing():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    use_amp(cfg, 'bfloat16', cuda=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.optim_wrapper.loss_scale == 1.0  # bf16 needs no scaling
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    use_amp(cfg, cuda=True)
    assert cfg.optim_wrapper.dtype == 'float16'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    with pytest.raises(ValueError, match='amp-dtype'):
        use_amp(cfg, 'float8', cuda=True)
    with pytest.raises(ValueError, match='CUDA'):
        use_amp(cfg, 'float16', cuda=False)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    use_amp(cfg, cuda=False)  # CPU: bf16 autocast, no loss scale
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert 'loss_scale' not in cfg.optim_wrapper
