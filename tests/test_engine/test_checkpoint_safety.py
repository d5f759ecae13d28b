"""Checkpoint safety through the real Runner:

* WorkDirGuardHook: new runs into a work dir that holds a previous run's
  checkpoints never overwrite or delete them, whether they fail before or
  after their first checkpoint;
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


@HOOKS.register_module(name='_FailAtEpochEnd', force=True)
class _FailAtEpochEnd(Hook):
    """Crash after the checkpoint of epoch ``epoch`` is written."""
    priority = 'LOWEST'

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:
            raise RuntimeError('simulated crash')


@HOOKS.register_module(name='_DieWhileSaving', force=True)
class _DieWhileSaving(Hook):
    """Crash inside ``save_checkpoint`` of epoch ``epoch`` (as a kill
    during the write would)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        if checkpoint['meta']['epoch'] == self.epoch:
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
    make_runner(work, tiny_toy_root, 'guard_first').train()
    files = snapshot(work)
    assert 'last_checkpoint' in files and 'epoch_2.pth' in files
    assert any(f.startswith('best_') for f in files)
    return work, files


def test_run_failing_before_its_first_checkpoint_changes_nothing(
        previous, tiny_toy_root):
    work, files = previous
    runner = make_runner(
        work,
        tiny_toy_root,
        'guard_early',
        custom_hooks=[dict(type='_FailAtEpochEnd', epoch=1)],
        default_hooks=dict(checkpoint=dict(interval=5)))
    with pytest.raises(RuntimeError, match='simulated crash'):
        runner.train()
    assert snapshot(work) == files


def test_run_failing_after_a_checkpoint_keeps_the_previous_one(
        previous, tiny_toy_root):
    work, files = previous
    runner = make_runner(
        work,
        tiny_toy_root,
        'guard_late',
        custom_hooks=[dict(type='_FailAtEpochEnd', epoch=1)])
    with pytest.raises(RuntimeError, match='simulated crash'):
        runner.train()
    now = snapshot(work)
    moved = {
        osp.basename(k): v
        for k, v in now.items() if k.startswith('previous_runs')
    }
    last_moved = [
        k for k in now
        if k.startswith('previous_runs') and k.endswith('last_checkpoint')
    ]
    # every file of the previous run is kept, byte for byte, except
    # last_checkpoint, which now points at the moved checkpoint
    for name, digest in files.items():
        if name != 'last_checkpoint':
            assert moved[name] == digest, name
    with open(osp.join(work, last_moved[0])) as f:
        target = f.read().strip()
    assert osp.dirname(target) == osp.dirname(
        osp.join(str(work), last_moved[0])) and osp.isfile(target)
    assert osp.basename(target) == 'epoch_2.pth'
    # the new run's own checkpoint is where MMEngine puts it
    assert 'epoch_1.pth' in now and 'last_checkpoint' in now


def test_dying_while_saving_keeps_a_checkpoint_to_resume(
        tiny_toy_root, tmp_path):
    runner = make_runner(
        tmp_path,
        tiny_toy_root,
        'safe_save',
        custom_hooks=[dict(type='_DieWhileSaving', epoch=2)])
    assert runner.cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    with pytest.raises(RuntimeError, match='died while saving'):
        runner.train()
    with open(osp.join(tmp_path, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert osp.basename(last) == 'epoch_1.pth' and osp.isfile(last)
