"""CPU distributed (gloo) runs of the tools under ``torchrun``:

* ``tools/train.py --launcher pytorch`` with 2 processes trains one epoch;
* ``tools/test.py --launcher pytorch`` with 2 processes gives exactly the
  metrics (and the ranking dump) of the single-process run;
* with an odd number of videos the distributed sampler pads rank 1 with a
  repeated video; MMEngine's ``collect_results`` must drop it, so the metric
  sees every video once.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from prvr_mm.evaluation import retrieval_metrics

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')
TIMEOUT = 600


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(args, cwd, nproc=None):
    """Start a tool, plainly or under ``torchrun --nproc_per_node=nproc``
    (as ``python -m torch.distributed.run``: the venv's interpreter)."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [sys.executable]
    if nproc:
        cmd += [
            '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
            '--nnodes=1', '--master_addr=127.0.0.1',
            f'--master_port={free_port()}'
        ]
    return subprocess.Popen(
        cmd + list(args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)


def finish(proc) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError('timed out:\n' + out[-4000:])
    assert proc.returncode == 0, out[-6000:]
    return out


def load(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def dist_trained(tiny_toy_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('dist_train'))
    log = finish(
        start([
            TRAIN, CFG, '--launcher', 'pytorch', '--work-dir', work,
            '--cfg-options', f'data_root={tiny_toy_root}',
            'train_cfg.max_epochs=1'
        ],
              cwd=work,
              nproc=2))
    return work, log


@pytest.fixture(scope='module')
def evaluated(dist_trained, tiny_toy_root, tmp_path_factory):
    """Single-process and 2-process tests of the same checkpoint, run
    concurrently: the full test split (12 videos) and its first 11 videos
    (odd: the sampler pads)."""
    ckpt = osp.join(dist_trained[0], 'epoch_1.pth')
    work = str(tmp_path_factory.mktemp('dist_test'))
    runs = dict(single=(None, 12), dist=(2, 12), dist11=(2, 11))
    procs = {}
    for name, (nproc, size) in runs.items():
        run_dir = osp.join(work, name)
        os.makedirs(run_dir)
        args = [
            TEST, CFG, ckpt, '--work-dir', run_dir, '--out', 'metrics.json',
            '--dump', 'rankings.json', '--dump-topk', '12', '--cfg-options',
            f'data_root={tiny_toy_root}'
        ]
        if size != 12:
            args.append(f'test_dataloader.dataset.indices={size}')
        if nproc:
            args[3:3] = ['--launcher', 'pytorch']
        procs[name] = start(args, cwd=run_dir, nproc=nproc)
    out = {}
    for name, proc in procs.items():
        finish(proc)
        run_dir = osp.join(work, name)
        out[name] = (load(osp.join(run_dir, 'metrics.json')),
                     load(osp.join(run_dir, 'rankings.json')))
    return out


def test_dist_train_one_epoch(dist_trained):
    work, log = dist_trained
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert "backend='gloo'" in log or 'backend="gloo"' in log
    # 24 training videos, batch 8, 2 ranks: 2 iterations per rank (3 alone)
    assert 'Epoch(train) [1][2/2]' in log and '[1][3/3]' not in log
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    state = torch.load(
        osp.join(work, 'epoch_1.pth'), map_location='cpu',
        weights_only=True)['state_dict']
    # saved from the unwrapped model (no DDP ``module.`` prefix)
    assert state and not any(k.startswith('module.') for k in state)


def test_dist_metrics_equal_single_process(evaluated):
    single, dist = evaluated['single'][0], evaluated['dist'][0]
    assert 'prvr/SumR' in single and 'prvr/inher/mAP' in single
    assert dist == single  # exactly


def test_dist_dump_equals_single_process(evaluated):
    single, dist = evaluated['single'][1], evaluated['dist'][1]
    assert dist['num_videos'] == single['num_videos'] == 12
    assert [q['query_id'] for q in dist['queries']] == \
        [q['query_id'] for q in single['queries']]
    for a, b in zip(single['queries'], dist['queries']):
        assert a['gt_rank'] == b['gt_rank'] and a['gt_clip'] == b['gt_clip']
        assert [r['video_id'] for r in a['results']] == \
            [r['video_id'] for r in b['results']]
        assert [r['clip'] for r in a['results']] == \
            [r['clip'] for r in b['results']]
        for ra, rb in zip(a['results'], b['results']):
            assert ra['score'] == pytest.approx(rb['score'], abs=1e-6)


def scores_from_dump(dump, videos):
    """(Q, V) matrices of the queries of ``videos`` against ``videos``,
    from a dump listing every video for every query."""
    index = {v: i for i, v in enumerate(videos)}
    queries = [q for q in dump['queries'] if q['gt_video'] in index]
    mats = {
        k: torch.empty(len(queries), len(videos), dtype=torch.float64)
        for k in ('score', 'inher_score', 'explore_score')
    }
    for row, q in enumerate(queries):
        assert len(q['results']) == dump['num_videos']
        for item in q['results']:
            if item['video_id'] in index:
                for key, mat in mats.items():
                    mat[row, index[item['video_id']]] = item[key]
    gt = torch.tensor([index[q['gt_video']] for q in queries])[:, None]
    return mats, gt


def test_dist_padding_does_not_duplicate_videos(evaluated):
    metrics, dump = evaluated['dist11']
    full = evaluated['single'][1]
    # 11 videos on 2 ranks: the sampler pads to 12 (one video twice) ...
    videos = list(dict.fromkeys(q['gt_video'] for q in full['queries']))[:11]
    # ... but the metric sees each video and each query exactly once
    assert dump['num_videos'] == 11
    expect = [
        q['query_id'] for q in full['queries'] if q['gt_video'] in videos
    ]
    assert [q['query_id'] for q in dump['queries']] == expect
    assert dump['num_queries'] == len(expect)
    for q in dump['queries']:
        ids = [r['video_id'] for r in q['results']]
        assert sorted(ids) == sorted(videos)
    # and its metrics are those of the single-process scores restricted to
    # these 11 videos
    mats, gt = scores_from_dump(full, videos)
    for key, prefix in (('score', 'prvr/'), ('inher_score', 'prvr/inher/'),
                        ('explore_score', 'prvr/explore/')):
        for name, value in retrieval_metrics(mats[key], gt).items():
            assert metrics[prefix + name] == pytest.approx(value, abs=1e-9)
    assert metrics != evaluated['single'][0]
