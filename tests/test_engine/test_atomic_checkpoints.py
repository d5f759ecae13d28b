"""Checkpoints and ``last_checkpoint`` are written atomically (temporary
file + ``os.replace``): a full disk while saving leaves the previous state
loadable and no partial file under a checkpoint's name (real Runner,
SafeCheckpointHook, a tiny model)."""
import errno
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

from prvr_mm.engine.atomic_io import atomic_write_text
from prvr_mm.utils import load_local_checkpoint
from tests.helpers.runner import tiny_runner


def _train(work_dir, max_epochs, **kwargs):
    runner = tiny_runner(
        work_dir,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(
                type='SafeCheckpointHook', interval=1, max_keep_ckpts=1),
            logger=dict(type='LoggerHook', interval=1000)),
        **kwargs)
    runner.train()


def _full_disk(*args):
    raise OSError(errno.ENOSPC, 'No space left on device')


def _half_write_then_full(self, obj, filepath):
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
    _full_disk()


def _replace_fails_for(name):
    real = os.replace

    def replace(src, dst):
        if osp.basename(dst) == name:
            _full_disk()
        return real(src, dst)

    return replace


@pytest.mark.parametrize('failure', ['write', 'replace', 'last_checkpoint'])
def test_full_disk_while_saving_keeps_the_previous_state(
        tmp_path, monkeypatch, failure):
    _train(tmp_path, 1)
    last = osp.join(tmp_path, 'last_checkpoint')
    with open(last) as f:
        assert f.read() == osp.join(tmp_path, 'epoch_1.pth')
    with open(osp.join(tmp_path, 'epoch_1.pth'), 'rb') as f:
        epoch_1 = f.read()
    if failure == 'write':
        monkeypatch.setattr(LocalBackend, 'put', _half_write_then_full)
    else:
        name = 'epoch_2.pth' if failure == 'replace' else 'last_checkpoint'
        monkeypatch.setattr(os, 'replace', _replace_fails_for(name))
    with pytest.raises(OSError, match='No space left'):
        _train(
            tmp_path,
            2,
            resume=True,
            load_from=osp.join(tmp_path, 'epoch_1.pth'))
    monkeypatch.undo()
    with open(last) as f:
        assert f.read() == osp.join(tmp_path, 'epoch_1.pth')
    with open(osp.join(tmp_path, 'epoch_1.pth'), 'rb') as f:
        assert f.read() == epoch_1
    assert 'state_dict' in load_local_checkpoint(
        osp.join(tmp_path, 'epoch_1.pth'))
    if failure == 'last_checkpoint':  # complete, just not pointed at yet
        torch.load(osp.join(tmp_path, 'epoch_2.pth'), weights_only=False)
    else:
        assert not osp.exists(osp.join(tmp_path, 'epoch_2.pth'))
    assert not glob.glob(osp.join(tmp_path, '.*.tmp'))  # no leftovers


def test_atomic_write_text_keeps_the_old_content_on_failure(
        tmp_path, monkeypatch):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text(path, 'old')
    monkeypatch.setattr(os, 'replace', _full_disk)
    with pytest.raises(OSError):
        atomic_write_text(path, 'new')
    monkeypatch.undo()
    with open(path) as f:
        assert f.read() == 'old'
    assert os.listdir(tmp_path) == ['last_checkpoint']
