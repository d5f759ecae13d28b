"""The five published configs train one epoch and test, through
``tools/train.py`` and ``tools/test.py``, on miniature copies of the MS-SL
layouts with the REAL feature dimensions (TVR 3072/768, ActivityNet and
Charades 1024/1024, CLIP teacher 512).  Only sizes are overridden on the
command line (epochs, batch sizes, workers, hidden size, data_root).

The ten subprocesses run two at a time (one train -> test chain per config).
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from prvr_mm.datasets.layout import COLLECTIONS
from tests.helpers.mini import make_mini_collection

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HIDDEN = 32

# config -> (collection, miniature variant, extra --cfg-options)
CASES = {
    # BigFile video features
    'dlkd_tvr': ('tvr', dict(), []),
    # one h5 of video features (FeatureData/i3d.hdf5) instead of a BigFile
    'dlkd_activitynet': ('activitynet', dict(video_format='h5'), []),
    'dlkdpp_tvr': ('tvr', dict(seed=1), []),
    # CLIP sentences stored as (512,) vectors
    'dlkdpp_activitynet': ('activitynet', dict(teacher_text_1d=True), []),
    # CLIP sentences keyed by the exact cap_id; 2 persistent train workers
    'dlkdpp_charades': ('charades', dict(teacher_text_style='cap_id'), [
        'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True'
    ]),
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _size_options(data_root):
    opts = [
        f'data_root={data_root}', 'train_cfg.max_epochs=1',
        f'model.inheritance.hidden_dim={HIDDEN}',
        'default_hooks.logger.interval=1'
    ]
    for loader in LOADERS:
        opts += [
            f'{loader}.batch_size=4', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    return opts


def _run(args, cwd):
    env = dict(
        os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)


def _train_and_test(name, base):
    collection, variant, extra = CASES[name]
    data_root = osp.join(base, name, 'data')
    paths = make_mini_collection(data_root, collection, **variant)
    work = osp.join(base, name, 'work')
    os.makedirs(work)
    config = osp.join(ROOT, 'configs', f'{name}.py')
    opts = _size_options(paths['dir'])
    train = _run([
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work,
        '--cfg-options', *opts, *extra
    ],
                 cwd=work)
    result = dict(paths=paths, work=work, train=train, test=None)
    if train.returncode != 0:
        return result
    best = glob.glob(osp.join(work, 'best_prvr_SumR_epoch_*.pth'))
    out = osp.join(work, 'test_metrics.json')
    result['test'] = _run([
        osp.join(ROOT, 'tools', 'test.py'), config,
        best[0] if best else osp.join(work, 'epoch_1.pth'), '--work-dir', work,
        '--out', out, '--cfg-options', *opts
    ],
                          cwd=work)
    return result


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp('layouts'))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(_train_and_test, n, base) for n in CASES}
        return {n: f.result() for n, f in futures.items()}


def _tail(proc):
    return (proc.stdout[-2500:] + '\n' + proc.stderr[-2500:]) if proc else ''


def _scalars(work):
    files = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json under {work}'
    with open(sorted(files)[-1]) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize('name', list(CASES))
def test_config_trains_and_tests_on_miniature(runs, name):
    run = runs[name]
    assert run['train'].returncode == 0, _tail(run['train'])
    assert run['test'] is not None and run['test'].returncode == 0, \
        _tail(run['test'])
    work = run['work']
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert glob.glob(osp.join(work, 'best_prvr_SumR_epoch_1.pth'))
    with open(osp.join(work, 'test_metrics.json')) as f:
        metrics = json.load(f)
    for key in ('prvr/SumR', 'prvr/R@1', 'prvr/mAP', 'prvr/inher/SumR',
                'prvr/explore/SumR'):
        assert key in metrics, key
    assert 0 < metrics['prvr/SumR'] <= 400


@pytest.mark.parametrize('name', list(CASES))
def test_training_used_teacher_and_real_dims(runs, name):
    run = runs[name]
    assert run['train'].returncode == 0, _tail(run['train'])
    logs = _scalars(run['work'])
    train = [r for r in logs if 'loss' in r]
    assert train and all(r['loss_kd'] > 0 for r in train)  # teacher in use
    assert train[0]['kd_weight'] == pytest.approx(1.0)
    soft = name.startswith('dlkdpp')
    assert ('alpha' in train[0]) == soft
    if soft:  # sigmoid decay of the authors' master branch at epoch 0
        assert train[0]['alpha'] == pytest.approx(0.8 * 800 / 801, abs=1e-6)
        assert train[0]['beta'] == pytest.approx(0.8 * 800 / 801, abs=1e-6)
    assert any('prvr/SumR' in r for r in logs)  # validated every epoch

    collection = CASES[name][0]
    dims = COLLECTIONS[collection]
    state = torch.load(
        osp.join(run['work'], 'epoch_1.pth'),
        map_location='cpu',
        weights_only=True)['state_dict']
    assert state['inheritance.video_proj.linear.weight'].shape == (
        HIDDEN, dims['video_dim'])
    assert state['inheritance.query_proj.linear.weight'].shape == (
        HIDDEN, dims['query_dim'])
    # DL-DKD shares the query input projection between the branches
    shared = torch.equal(state['inheritance.query_proj.linear.weight'],
                         state['exploration.query_proj.linear.weight'])
    assert shared == (not soft)


def test_published_hyper_parameters_reach_the_run(runs):
    """The config dumped by each training run keeps the per-dataset values
    (``tools/test.py`` later dumps its own, without the training parts)."""
    from mmengine.config import Config
    expected = {
        'dlkd_tvr': (2.5e-4, 0.1, 0.1, 0.7),
        'dlkd_activitynet': (2.5e-4, 0.1, 0.2, 0.7),
        'dlkdpp_tvr': (3e-4, 0.2, 0.1, 0.7),
        'dlkdpp_activitynet': (2.5e-4, 0.25, 0.2, 0.7),
        'dlkdpp_charades': (2.4e-4, 0.15, 0.2, 0.7),
    }
    for name, (lr, drop, margin, fusion) in expected.items():
        run = runs[name]
        assert run['train'].returncode == 0, _tail(run['train'])
        dumped = sorted(
            glob.glob(osp.join(run['work'], '*', 'vis_data', 'config.py')))
        assert len(dumped) == 2, dumped  # train, then test
        cfg = Config.fromfile(dumped[0])
        assert Config.fromfile(dumped[1]).optim_wrapper is None
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr)
        assert cfg.model.inheritance.dropout == drop
        assert cfg.model.inheritance.input_dropout == drop
        assert cfg.model.loss_triplet.margin == margin
        assert cfg.val_evaluator.fusion_weight == fusion
        # DL-DKD also reports the 0.5 / 0.5 fusion of the authors' 544b2db
        assert tuple(cfg.val_evaluator.get(
            'extra_fusion_weights',
            ())) == ((0.5, ) if name.startswith('dlkd_') else ())
        assert cfg.optim_wrapper.optimizer.type == 'BertAdam'
        assert cfg.train_dataloader.dataset.data_root == \
            run['paths']['dir']
        assert cfg.test_dataloader.dataset.data_root == run['paths']['dir']


def test_evaluation_needs_no_teacher_files(runs, tmp_path):
    """Test split of a copy of the TVR miniature without the CLIP files.

    Runs in-process through the tool's ``strip_training``: MMEngine's
    ``EarlyStoppingHook.before_run`` builds the train loop (and so the
    train dataset, which needs the teacher) even in ``runner.test()``.
    """
    import shutil

    from mmengine.config import Config
    from mmengine.runner import Runner

    from prvr_mm.utils import (merge_config_options, resolve_dataloaders,
                               strip_training)
    run = runs['dlkd_tvr']
    assert run['train'].returncode == 0, _tail(run['train'])
    data = str(tmp_path / 'tvr')
    shutil.copytree(run['paths']['dir'], data)
    for key in ('teacher_video', 'teacher_text'):
        os.remove(run['paths'][key].replace(run['paths']['dir'], data))
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dlkd_tvr.py'))
    opts = dict(o.split('=', 1) for o in _size_options(data))
    opts = {
        k: (int(v) if v.isdigit() else {
            'False': False,
            'True': True
        }.get(v, v))
        for k, v in opts.items()
    }
    merge_config_options(cfg, opts, 'dlkd_tvr.py', str(tmp_path / 'work'))
    resolve_dataloaders(cfg)
    strip_training(cfg)
    cfg.load_from = osp.join(run['work'], 'epoch_1.pth')
    metrics = Runner.from_cfg(cfg).test()
    with open(osp.join(run['work'], 'test_metrics.json')) as f:
        logged = json.load(f)
    # same weights (epoch 1) and test split as the tools/test.py run
    for key in ('prvr/SumR', 'prvr/mAP', 'prvr/inher/SumR'):
        assert metrics[key] == pytest.approx(logged[key]), key
