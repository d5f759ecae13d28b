"""Checkpoint safety through the real Runner:

* WorkDirGuardHook: a new run into a work dir that holds a previous run's
  checkpoints never overwrites or deletes them, whether it fails before or
  after its first checkpoint;
* SafeCheckpointHook: a run dying while it writes a checkpoint keeps the
  previous one (MMEngine's CheckpointHook deletes it first) and a valid
  ``last_checkpoint``.
"""
import glob
import hashlib
import os.path as osp

import pytest
from mmaction.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')


@HOOKS.register_module(name='_Crash', force=True)
class _Crash(Hook):
    """Crash before training (``saving_epoch=None``) or inside the
    ``save_checkpoint`` of epoch ``saving_epoch``, as a kill during the
    write would."""

    def __init__(self, saving_epoch=None) -> None:
        self.saving_epoch = saving_epoch

    def before_train(self, runner) -> None:
        if self.saving_epoch is None:
            raise RuntimeError('crashed before training')

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        if checkpoint['meta']['epoch'] == self.saving_epoch:
            raise RuntimeError('died while saving')


def make_runner(work_dir, data_root, name, **overrides):
    cfg = Config.fromfile(CFG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.merge_from_dict(overrides)
    return Runner.from_cfg(cfg)


def snapshot(work_dir):
    out = {}
    for path in glob.glob(osp.join(work_dir, '**', '*'), recursive=True):
        if path.endswith('.pth') or osp.basename(path) == 'last_checkpoint':
            with open(path, 'rb') as f:
                out[osp.relpath(path,
                                work_dir)] = hashlib.md5(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def previous(tiny_toy_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('work')
    make_runner(
        work, tiny_toy_root, 'guard_first',
        train_cfg=dict(max_epochs=1)).train()
    files = snapshot(work)
    assert {'last_checkpoint', 'epoch_1.pth',
            'best_prvr_SumR_epoch_1.pth'} <= set(files)
    return work, files


def test_run_failing_before_its_first_checkpoint_changes_nothing(
        previous, tiny_toy_root):
    work, files = previous
    runner = make_runner(
        work, tiny_toy_root, 'guard_early', custom_hooks=[dict(type='_Crash')])
    with pytest.raises(RuntimeError, match='crashed before training'):
        runner.train()
    assert snapshot(work) == files


def test_run_dying_while_saving_loses_nothing(previous, tiny_toy_root):
    """A new run writes its own epoch_1.pth (the previous run's name), then
    dies while writing epoch_2.pth: the previous run's files are kept byte
    for byte, and the new run can still be resumed from its epoch 1."""
    work, files = previous
    runner = make_runner(
        work,
        tiny_toy_root,
        'guard_late',
        custom_hooks=[dict(type='_Crash', saving_epoch=2)])
    assert runner.cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    with pytest.raises(RuntimeError, match='died while saving'):
        runner.train()
    now = snapshot(work)
    moved = {
        osp.basename(k): v
        for k, v in now.items() if k.startswith('previous_runs')
    }
    for name, digest in files.items():
        if name != 'last_checkpoint':
            assert moved[name] == digest, name
    # the moved last_checkpoint points at the moved checkpoint
    moved_last = [
        k for k in now
        if k.startswith('previous_runs') and k.endswith('last_checkpoint')
    ]
    with open(osp.join(work, moved_last[0])) as f:
        target = f.read().strip()
    assert target == osp.join(
        osp.dirname(osp.join(str(work), moved_last[0])), 'epoch_1.pth')
    # SafeCheckpointHook: the new run's epoch 1 survives the failed save of
    # epoch 2 (MMEngine's CheckpointHook deletes it before writing)
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last == osp.join(str(work), 'epoch_1.pth') and osp.isfile(last)
    assert now['epoch_1.pth'] != files['epoch_1.pth']
