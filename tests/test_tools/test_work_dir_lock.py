"""A run owns its work dir: ``run.lock`` refuses a second run (through the
real ``tools/train.py``), stale locks are taken over, only rank 0 locks."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from prvr_mm.engine.work_dir_lock import (LOCK_NAME, WorkDirInUseError,
                                          WorkDirLock, _proc_start,
                                          lock_work_dir)
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import run_tool, tool


@pytest.fixture
def other_run():
    """A live process standing for a run started elsewhere."""
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import time; time.sleep(120)'])
    yield proc.pid
    proc.kill()
    proc.wait()


def write_lock(work_dir, pid, host=None, recorded_dir=None):
    os.makedirs(work_dir, exist_ok=True)
    info = dict(
        pid=pid,
        host=host or socket.gethostname(),
        started='2026-11-30T08:15:00',
        proc_start=_proc_start(pid),
        work_dir=osp.realpath(recorded_dir or work_dir),
        command='tools/train.py configs/dlkd_tvr.py')
    with open(osp.join(work_dir, LOCK_NAME), 'w') as f:
        json.dump(info, f)
    return info


def test_lock_records_the_run_and_is_released(tmp_path):
    lock = WorkDirLock(str(tmp_path / 'work')).acquire()
    with open(lock.path) as f:
        info = json.load(f)
    assert info['pid'] == os.getpid()
    assert info['host'] == socket.gethostname()
    assert info['started'] and info['work_dir'] == osp.realpath(lock.work_dir)
    lock.release()
    assert not osp.exists(lock.path)


def test_second_run_stops_at_once_naming_the_first(other_run, tmp_path,
                                                   tiny_toy_root):
    work = str(tmp_path / 'work')
    write_lock(work, other_run)
    proc = run_tool(
        tool('train.py'),
        CFG,
        '--work-dir',
        work,
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=str(tmp_path),
        check=False)
    assert proc.returncode == 2
    err = proc.stderr
    assert err.startswith('error: work dir ') or '\nerror: work dir ' in err
    assert f'is in use by another run: pid {other_run} on host ' \
           f'{socket.gethostname()}, started 2026-11-30T08:15:00' in err
    assert 'another --work-dir' in err
    assert os.listdir(work) == [LOCK_NAME]  # nothing written, lock kept


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    work = str(tmp_path / 'work')
    write_lock(work, dead.pid)
    lock = WorkDirLock(work).acquire()
    out = capsys.readouterr().out
    assert f'taking over the stale lock of pid {dead.pid}' in out
    assert f'process {dead.pid} no longer runs on this host' in out
    with open(lock.path) as f:
        assert json.load(f)['pid'] == os.getpid()
    lock.release()


def test_lock_copied_with_the_dir_is_taken_over(other_run, tmp_path, capsys):
    work = str(tmp_path / 'C')
    write_lock(work, other_run, recorded_dir=str(tmp_path / 'A'))
    WorkDirLock(work).acquire().release()
    assert 'it was copied from' in capsys.readouterr().out


def test_lock_of_another_host_is_respected(tmp_path):
    work = str(tmp_path / 'work')
    write_lock(work, 12345, host='gpu-node-17')
    with pytest.raises(WorkDirInUseError, match='host gpu-node-17') as err:
        WorkDirLock(work).acquire()
    assert 'delete the lock file' in str(err.value)


def test_only_rank_zero_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv('RANK', '1')
    assert lock_work_dir(str(tmp_path / 'w'), 'pytorch') is None
    assert not osp.exists(tmp_path / 'w' / LOCK_NAME)
    monkeypatch.setenv('RANK', '0')
    lock = lock_work_dir(str(tmp_path / 'w'), 'pytorch')
    assert osp.isfile(lock.path)
    lock.release()
