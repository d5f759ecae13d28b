"""``tools/data/check_dataset.py`` / :func:`prvr_mm.datasets.check`: a valid
miniature of each MS-SL layout passes with its statistics; every broken
variant fails, naming the problem (all problems are collected)."""
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from prvr_mm.datasets.check import check_dataset
from tests.helpers.mini import make_mini_collection

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'data', 'check_dataset.py')
SIZES = dict(
    num_videos=dict(train=6, val=4, test=4),
    frames=(3, 6),
    teacher_frames=(2, 5),
    tokens=(2, 5))


def _load_tool():
    spec = importlib.util.spec_from_file_location('check_dataset_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


@pytest.fixture(scope='module')
def minis(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini'))
    out = dict(root=root)
    out['tvr'] = make_mini_collection(root, 'tvr', seed=0, **SIZES)
    out['activitynet'] = make_mini_collection(
        root,
        'activitynet',
        seed=1,
        video_format='h5',
        teacher_text_1d=True,
        **SIZES)
    out['charades'] = make_mini_collection(
        root, 'charades', seed=2, teacher_text_style='cap_id', **SIZES)
    return out


@pytest.fixture
def broken(minis, tmp_path):
    """A private copy of the TVR miniature to break."""
    root = str(tmp_path / 'root')
    shutil.copytree(minis['tvr']['dir'], osp.join(root, 'tvr'))
    paths = {
        k: v.replace(minis['root'], root)
        for k, v in minis['tvr'].items()
    }
    paths['root'] = root
    return paths


def _count(path):
    with open(path) as f:
        ids = [line.split(' ', 1)[0] for line in f if line.strip()]
    return len({i.split('#')[0] for i in ids}), len(ids)


@pytest.mark.parametrize('collection', ['tvr', 'activitynet', 'charades'])
def test_valid_miniature_passes_with_statistics(minis, collection):
    paths = minis[collection]
    report = check_dataset(minis['root'], collection)
    assert report.ok, report.format()
    for split in ('train', 'val', 'test'):
        videos, queries = _count(paths[f'caption_{split}'])
        st = report.stats['splits'][split]
        assert (st['videos'], st['queries']) == (videos, queries)
    feats = report.stats['features']
    real = dict(tvr=(3072, 768)).get(collection, (1024, 1024))
    assert feats['video features']['dim'] == real[0]
    assert feats['text features']['dim'] == real[1]
    assert feats['teacher video features']['dim'] == 512
    assert feats['teacher text features']['dim'] == 512
    assert 3 <= feats['video features']['rows']['min'] <= \
        feats['video features']['rows']['max'] <= 6
    for name, st in feats.items():
        for cov in st['coverage'].values():
            assert cov['found'] == cov['total'] > 0, name
    assert set(feats['teacher video features']['coverage']) == {'train'}
    frames = report.stats['teacher_vs_student']
    assert frames['videos'] == report.stats['splits']['train']['videos']
    text = report.format()
    assert 'OK: no problem found' in text and 'coverage test' in text


def test_cli_exit_codes_and_output(minis, broken):
    """The real command line: 0 with statistics, 1 naming the problem."""
    with open(broken['caption_val'], 'a') as f:
        f.write('no_hash_id a sentence\n')
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    procs = [
        subprocess.Popen([sys.executable, TOOL, root, 'tvr'],
                         env=env,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         text=True) for root in (minis['root'], broken['root'])
    ]
    (good, good_err), (bad,
                       bad_err) = [p.communicate(timeout=300) for p in procs]
    assert procs[0].returncode == 0, good + good_err
    for line in ('split   videos  queries', 'format BigFile',
                 'dim 3072 (expected 3072)', 'dim 768 (expected 768)',
                 'coverage train: ', 'teacher vs student frames',
                 'OK: no problem found'):
        assert line in good, line
    assert procs[1].returncode == 1, bad + bad_err
    assert 'FAILED: 1 problem(s)' in bad
    assert 'tvrval.caption.txt' in bad and 'malformed caption line' in bad


def _rewrite_h5(path, key, value):
    with h5py.File(path, 'a') as f:
        del f[key]
        if value is not None:
            f[key] = value


def _first_key(path, prefix=''):
    with h5py.File(path, 'r') as f:
        return sorted(k for k in f.keys() if k.startswith(prefix))[0]


def _v2f(paths, edit):
    p = osp.join(paths['video'], 'video2frames.txt')
    with open(p) as f:
        v2f = eval(f.read())
    edit(v2f)
    with open(p, 'w') as f:
        f.write(repr(v2f))


def _append(path, line):
    with open(path, 'a') as f:
        f.write(line + '\n')


def _nan_in_bigfile(paths):
    path = osp.join(paths['video'], 'feature.bin')
    m = np.fromfile(path, np.float32)
    m[5] = np.nan
    m.tofile(path)


def _first_cap(paths, split='train'):
    with open(paths[f'caption_{split}']) as f:
        return f.readline().split(' ', 1)[0]


BREAKS = {
    'missing caption file': (lambda p: os.remove(p['caption_test']),
                             ['caption file not found',
                              'tvrtest.caption.txt']),
    'missing text feature file':
    (lambda p: os.remove(p['text']),
     ['text features: file not found', 'roberta_tvr_query_feat.hdf5']),
    'missing BigFile': (lambda p: shutil.rmtree(p['video']), [
        'video features: file not found', 'FeatureData/i3d_resnet',
        'BigFile folder'
    ]),
    'missing teacher video file': (lambda p: os.remove(p['teacher_video']),
                                   ['teacher video features: file not found']),
    'missing teacher text file': (lambda p: os.remove(p['teacher_text']),
                                  ['teacher text features: file not found']),
    'corrupt h5 file':
    (lambda p: open(p['text'], 'wb').write(b'not an hdf5 file'),
     ['text features: cannot open', 'roberta_tvr_query_feat.hdf5']),
    'missing cap_id':
    (lambda p: _rewrite_h5(p['text'], _first_cap(p, 'val'), None), [
        'text features', 'misses 1 of', 'cap_ids of the val split',
        "missing key 'tvr_val_v000#enc#0'", '(L, 768)'
    ]),
    'missing video id in BigFile':
    (lambda p: _v2f(p, lambda d: d.pop('tvr_test_v003')), [
        'video features', 'misses 1 of 4 video ids of the test split',
        "'tvr_test_v003'", '(T, 3072)'
    ]),
    'missing video id in teacher':
    (lambda p: _rewrite_h5(p['teacher_video'], 'tvr_train_v002', None), [
        'teacher video features', 'misses 1 of 6 video ids of the train',
        "'tvr_train_v002'", '(T, 512)'
    ]),
    'missing cap_id in teacher text':
    (lambda p: _rewrite_h5(p['teacher_text'],
                           _first_cap(p).replace('#enc#', '#'), None),
     ['teacher text features', 'cap_ids of the train split', '(1, 512)']),
    'wrong text dimension': (lambda p: _rewrite_h5(
        p['text'], _first_cap(p), np.ones((3, 700), np.float32)), [
            'text features', 'dimension other than 768', 'shape (3, 700)',
            'dimension mismatch with the config'
        ]),
    'wrong teacher dimension': (lambda p: _rewrite_h5(
        p['teacher_video'], 'tvr_train_v000', np.ones((3, 768), np.float32)), [
            'teacher video features', "'tvr_train_v000' has shape (3, 768)",
            'dimension other than 512'
        ]),
    'zero-frame video (BigFile)':
    (lambda p: _v2f(p, lambda d: d.__setitem__('tvr_val_v001', [])),
     ['video features', 'video2frames.txt', 'zero frames', "'tvr_val_v001'"]),
    'zero-frame video (teacher h5)':
    (lambda p: _rewrite_h5(p['teacher_video'], 'tvr_train_v001',
                           np.zeros((0, 512), np.float32)),
     ['teacher video features', 'zero frames', "'tvr_train_v001'",
      '(0, 512)']),
    'NaN in BigFile':
    (_nan_in_bigfile,
     ['video features', 'NaN or inf', 'feature.bin', "'tvr_train_v000'"]),
    'inf in query tokens':
    (lambda p: _rewrite_h5(p['text'], _first_cap(p, 'test'),
                           np.full((2, 768), np.inf, np.float32)),
     ['text features', 'NaN or inf', "'tvr_test_v000#enc#0'"]),
    'malformed caption line':
    (lambda p: _append(p['caption_train'], 'tvr_train_v000#enc#9'),
     ['tvrtrain.caption.txt', 'malformed caption line']),
    'duplicate cap_id':
    (lambda p: _append(p['caption_val'], 'tvr_val_v000#enc#0 again'),
     ['tvrval.caption.txt', "duplicate cap_id 'tvr_val_v000#enc#0'"]),
    'split without queries':
    (lambda p: open(p['caption_test'], 'w').close(),
     ['tvrtest.caption.txt', 'the split has no queries']),
    'shape.txt disagrees with feature.bin':
    (lambda p: open(osp.join(p['video'], 'shape.txt'), 'w').write(
        '100000 3072'), ['video features', 'feature.bin has',
                         '100000 x 3072']),
    'video2frames names an unknown frame id':
    (lambda p: _v2f(p, lambda d: d['tvr_train_v004'].append('ghost_1')), [
        'video features', 'video2frames.txt', "'tvr_train_v004'",
        "'ghost_1' absent from id.txt"
    ]),
    'teacher sentence is not one vector': (lambda p: _rewrite_h5(
        p['teacher_text'],
        _first_cap(p).replace('#enc#', '#'), np.ones((2, 512), np.float32)), [
            'teacher text features', 'not one vector', '(2, 512)',
            '(1, 512) or (512,)'
        ]),
}


@pytest.mark.parametrize('name', list(BREAKS))
def test_broken_variant_fails_naming_the_problem(tool, broken, capsys, name):
    mutate, expected = BREAKS[name]
    mutate(broken)
    code = tool.main([broken['root'], 'tvr'])
    out = capsys.readouterr().out
    assert code == 1, out
    problems = out.split('FAILED: ', 1)[-1]
    for text in expected:
        assert text in problems, (text, out)


def test_all_problems_are_collected(tool, broken, capsys):
    _append(broken['caption_train'], 'tvr_train_v000#enc#0 duplicate')
    _nan_in_bigfile(broken)
    os.remove(broken['teacher_text'])
    _rewrite_h5(broken['teacher_video'], 'tvr_train_v003', None)
    assert tool.main([broken['root'], 'tvr']) == 1
    out = capsys.readouterr().out
    assert 'FAILED: 4 problem(s)' in out
    for text in ('duplicate cap_id', 'NaN or inf',
                 'teacher text features: file not found', "'tvr_train_v003'"):
        assert text in out, text


def test_dimension_options_and_sampling(tool, minis, capsys):
    root = minis['root']
    assert tool.main([root, 'tvr', '--video-dim', '2048']) == 1
    out = capsys.readouterr().out
    assert 'holds 3072-d features' in out and '(T, 2048)' in out
    assert tool.main([root, 'charades', '--query-dim', '0', '--sample',
                      '2']) == 0
    out = capsys.readouterr().out
    assert 'values checked for NaN/inf: 2 items' in out


def test_h5_video_features_and_visual_feature_option(tool, minis, capsys):
    root = minis['root']
    # the activitynet miniature stores FeatureData/i3d.hdf5 (no BigFile)
    assert tool.main([root, 'activitynet']) == 0
    out = capsys.readouterr().out
    assert 'FeatureData/i3d.hdf5' in out and 'format h5' in out
    assert tool.main([root, 'activitynet', '--visual-feature',
                      'i3d.hdf5']) == 0
    capsys.readouterr()
    assert tool.main([root, 'activitynet', '--visual-feature', 'c3d']) == 1
    assert 'FeatureData/c3d' in capsys.readouterr().out


def test_evaluation_only_data_needs_no_teacher(tool, broken, capsys):
    os.remove(broken['teacher_video'])
    os.remove(broken['teacher_text'])
    assert tool.main([broken['root'], 'tvr', '--no-teacher']) == 0
    assert 'teacher' not in capsys.readouterr().out.split('OK')[0].lower()
    assert tool.main([broken['root'], 'tvr']) == 1


def test_missing_collection_and_json_output(tool, minis, tmp_path, capsys):
    assert tool.main([str(tmp_path), 'tvr']) == 1
    assert 'collection folder not found' in capsys.readouterr().out
    out = str(tmp_path / 'stats.json')
    assert tool.main([minis['root'], 'charades', '--json', out]) == 0
    import json
    with open(out) as f:
        data = json.load(f)
    assert data['problems'] == []
    assert data['stats']['splits']['train']['videos'] == 6


def test_shared_videos_between_splits_only_warn(broken):
    with open(broken['caption_train']) as f:
        first = f.readline().split(' ', 1)[0]
    vid = first.split('#')[0]
    with h5py.File(broken['text'], 'a') as f:
        f[f'{vid}#enc#77'] = np.ones((2, 768), np.float32)
    _append(broken['caption_val'], f'{vid}#enc#77 the same video')
    report = check_dataset(broken['root'], 'tvr')
    assert report.ok, report.format()
    assert any('appear in both the train and the val split' in w
               for w in report.warnings)
