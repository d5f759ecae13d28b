"""Exact resume through the real tools: a run stopped by SIGTERM inside
epoch 2 (PreemptionHook: checkpoint at the end of the iteration, exit 0),
resumed, killed with SIGKILL after the epoch-3 checkpoint, and resumed again
ends with the weights, optimizer state and metrics of the uninterrupted run
(bit-identical on CPU with one thread).

The config (``tests/data/configs/tiny_resume.py``) trains DL-DKD++ with
dropout, randomly drawn hard negatives and per-epoch kd / alpha / beta
schedules, so random states, schedules and the sampler must all resume.
"""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_resume.py')
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TIMEOUT = 300


def start(work_dir, data_root, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.Popen([
        sys.executable, TRAIN, CFG, '--work-dir', work_dir, *extra,
        '--cfg-options', f'data_root={data_root}'
    ],
                            cwd=work_dir,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True)


def wait_for_line(proc, needle, log):
    """Read ``proc``'s output until a line contains ``needle``."""
    deadline = time.time() + TIMEOUT
    for line in proc.stdout:
        log.append(line)
        if needle in line:
            return
        assert time.time() < deadline, 'timed out'
    raise AssertionError(f'{needle!r} never printed:\n' + ''.join(log[-40:]))


def finish(proc, log):
    out, _ = proc.communicate(timeout=TIMEOUT)
    log.append(out)
    return proc.returncode


def last_checkpoint(work_dir):
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read().strip()


def val_metrics(work_dir):
    """SumR per validated epoch over all logs of the work dir, last wins."""
    out = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'prvr/SumR' in rec:
                    out[rec['step']] = rec
    return out


@pytest.fixture(scope='module')
def runs(tiny_toy_root, tmp_path_factory):
    ref_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    cut_dir = str(tmp_path_factory.mktemp('interrupted'))
    reference = start(ref_dir, tiny_toy_root)  # runs alongside
    logs = dict(term=[], kill=[], last=[])

    # 1. SIGTERM inside epoch 2 -> checkpoint after that iteration, exit 0
    proc = start(cut_dir, tiny_toy_root)
    wait_for_line(proc, 'Epoch(train) [2][2/6]', logs['term'])
    proc.send_signal(signal.SIGTERM)
    term_status = finish(proc, logs['term'])
    preempted = last_checkpoint(cut_dir)

    # 2. resume; SIGKILL as soon as the epoch-3 checkpoint is complete
    proc = start(cut_dir, tiny_toy_root, '--resume')
    deadline = time.time() + TIMEOUT
    while not (last_checkpoint(cut_dir) or '').endswith('epoch_3.pth'):
        assert proc.poll() is None and time.time() < deadline, \
            proc.communicate()[0][-3000:]
        time.sleep(0.02)
    proc.kill()
    finish(proc, logs['kill'])

    # 3. resume to the end
    proc = start(cut_dir, tiny_toy_root, '--resume')
    assert finish(proc, logs['last']) == 0, logs['last'][-1][-3000:]
    assert finish(reference, []) == 0
    return dict(
        ref=ref_dir,
        cut=cut_dir,
        term_status=term_status,
        preempted=preempted,
        logs={
            k: ''.join(v)
            for k, v in logs.items()
        })


def test_sigterm_saves_and_exits_zero(runs):
    assert runs['term_status'] == 0, runs['logs']['term'][-3000:]
    assert osp.basename(runs['preempted']).startswith('preempted_iter_')
    assert 'termination signal: saved' in runs['logs']['term']
    ckpt = torch.load(runs['preempted'], map_location='cpu', weights_only=True)
    assert ckpt['meta']['epoch'] == 1  # inside the 2nd epoch
    assert 2 <= ckpt['meta']['epoch_batches_done'] < 6
    assert ckpt['rng_states']['world_size'] == 1
    assert 'resuming inside epoch 2' in runs['logs']['kill']
    assert 'validating epoch 3 again' in runs['logs']['last']


def test_resumed_run_equals_uninterrupted_run(runs):
    ref = torch.load(
        osp.join(runs['ref'], 'epoch_4.pth'),
        map_location='cpu',
        weights_only=True)
    cut = torch.load(
        osp.join(runs['cut'], 'epoch_4.pth'),
        map_location='cpu',
        weights_only=True)
    diff = max((ref['state_dict'][k] - v).abs().max().item()
               for k, v in cut['state_dict'].items())
    print(f'max weight difference after resume: {diff}')
    assert diff == 0.0
    ref_opt = ref['optimizer']['state']
    for key, state in cut['optimizer']['state'].items():
        assert torch.equal(state['exp_avg_sq'], ref_opt[key]['exp_avg_sq'])
    assert cut['param_schedulers'] == ref['param_schedulers']
    assert cut['rng_states']['states'][0]['torch'].equal(
        ref['rng_states']['states'][0]['torch'])
    ref_val, cut_val = val_metrics(runs['ref']), val_metrics(runs['cut'])
    assert sorted(ref_val) == sorted(cut_val) == [1, 2, 3, 4]
    for epoch, rec in ref_val.items():
        for key in ('prvr/SumR', 'prvr/inher/mAP', 'prvr/explore/R@1'):
            assert cut_val[epoch][key] == rec[key], (epoch, key)
    best = [
        osp.basename(p)
        for p in glob.glob(osp.join(runs['ref'], 'best_*.pth'))
    ]
    assert best == [
        osp.basename(p)
        for p in glob.glob(osp.join(runs['cut'], 'best_*.pth'))
    ]
    # resumed runs continue in place (WorkDirGuardHook moves nothing)
    assert not osp.exists(osp.join(runs['cut'], 'previous_runs'))
