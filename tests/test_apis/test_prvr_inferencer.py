"""``PRVRInferencer``: index -> save -> load -> search, against
``tools/test.py --dump`` on the same toy split, and its handling of bad
input."""
import json
import os
import os.path as osp
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from mmengine.config import Config

from prvr_mm.apis import (ClipANN, PRVRInferencer, SearchIndexError,
                          VideoIndexer, load_index, save_index, search_videos)
from tests.helpers.tools import ROOT
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import run_tool, save_random_checkpoint, tool

TOPK = 5


def random_checkpoint(path, seed):
    """A randomly initialised tiny model (the tests check consistency)."""
    return save_random_checkpoint(path, seed=seed)


@pytest.fixture(scope='module')
def work(tmp_path_factory, tiny_toy_root):
    """Checkpoint, ``tools/test.py --dump`` output and a float32 index."""
    work = str(tmp_path_factory.mktemp('search'))
    ckpt = random_checkpoint(osp.join(work, 'model.pth'), seed=0)
    run_tool(
        tool('test.py'),
        CFG,
        ckpt,
        '--work-dir',
        work,
        '--dump',
        'rankings.json',
        '--dump-topk',
        str(TOPK),
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=work)
    with open(osp.join(work, 'rankings.json')) as f:
        dump = json.load(f)
    inferencer = PRVRInferencer(CFG, ckpt)
    path = osp.join(work, 'test32.index.h5')
    inferencer.index(
        'test', path, data_root=tiny_toy_root, dtype='float32', batch_size=5)
    return dict(
        dir=work, ckpt=ckpt, dump=dump, index32=path, inferencer=inferencer)


def query_features(root, query_ids):
    with h5py.File(
            osp.join(root, 'TextData', 'roberta_toy_query_feat.hdf5'),
            'r') as f:
        return [f[q][()] for q in query_ids]


def test_search_matches_test_dump(work, tiny_toy_root):
    """Same top-k, per-branch and fused scores and best clips (with its
    span) as the test loop's dump, from an index loaded from disk."""
    dump = work['dump']
    inferencer = PRVRInferencer(CFG, work['ckpt'], index=work['index32'])
    index = inferencer.search_index
    assert index.source == work['index32'] and len(index) == 12
    entries = dump['queries']
    preds = inferencer.search(
        query_features(tiny_toy_root, [e['query_id'] for e in entries]),
        top_k=TOPK,
        batch_size=7)
    assert len(preds) == len(entries)
    for entry, pred in zip(entries, preds):
        got = pred['results']
        assert [r['video_id'] for r in got] == \
            [r['video_id'] for r in entry['results']]
        for mine, ref in zip(got, entry['results']):
            for key in ('score', 'inher_score', 'explore_score'):
                assert mine[key] == pytest.approx(ref[key], abs=1e-5)
            assert mine['clip'] == ref['clip']
            v = index.video_ids.index(mine['video_id'])
            assert index.clip_spans(v)[mine['clip']].tolist() == \
                pytest.approx(ref['span'])
            assert mine['unit'] == ref['unit'] == 's'
            # the moment hint is a run of clips around the best one
            start, end = mine['moment_clips']
            assert start <= mine['clip'] <= end
            assert mine['moment'] == [
                float(index.clip_spans(v)[start, 0]),
                float(index.clip_spans(v)[end, 1])
            ]


def test_float16_index_keeps_the_ranking(work, tiny_toy_root):
    """The default float16 index: scores within 2e-3 of the dump and the
    same top-k up to swaps of near-ties."""
    inferencer = work['inferencer']
    path = osp.join(work['dir'], 'test16.index.h5')
    inferencer.index('test', path, data_root=tiny_toy_root)
    index = load_index(path)
    assert index.storage_dtype == torch.float16
    with h5py.File(path, 'r') as f:
        assert f['clips/inher'].dtype == np.float16
    entries = work['dump']['queries']
    inferencer.load_index(index)
    preds = inferencer.search(
        query_features(tiny_toy_root, [e['query_id'] for e in entries]),
        top_k=TOPK)
    for entry, pred in zip(entries, preds):
        ref = {r['video_id']: r['score'] for r in entry['results']}
        for mine in pred['results']:
            if mine['video_id'] in ref:
                assert mine['score'] == pytest.approx(
                    ref[mine['video_id']], abs=2e-3)
            else:  # swapped with a near-tie at the border of the top-k
                assert mine['score'] == pytest.approx(
                    entry['results'][-1]['score'], abs=4e-3)


def test_ann_returns_exact_topk_with_enough_candidates(work):
    index = load_index(work['index32'])
    weights = index.fingerprint['fusion_weights']
    assert weights == work['inferencer'].fusion_weights
    g = torch.Generator().manual_seed(0)
    queries = {b: torch.randn(20, 16, generator=g) for b in index.branches}
    exact = search_videos(index, queries, weights, top_k=4)
    for factory, params in (('Flat', ''), ('IVF4,Flat', 'nprobe=4'),
                            ('HNSW8', 'efSearch=256')):
        index.set_ann(ClipANN(factory, params, weights).build(index.clips))
        approx = search_videos(
            index, queries, weights, top_k=4, candidates=index.total_clips)
        assert torch.equal(approx['videos'], exact['videos']), factory
        assert torch.allclose(approx['scores'], exact['scores'], atol=1e-5)
        for key in ('best', 'start', 'end'):
            assert torch.equal(approx[key], exact[key])
    # the ANN is saved with the index and loaded back
    path = osp.join(work['dir'], 'with_ann.index.h5')
    save_index(index, path)
    loaded = load_index(path)
    assert loaded.ann.factory == 'HNSW8' and loaded.ann.params == \
        'efSearch=256' and loaded.ann.ntotal == index.total_clips
    again = search_videos(
        loaded, queries, weights, top_k=4, candidates=index.total_clips)
    assert torch.equal(again['videos'], exact['videos'])
    with pytest.raises(ValueError, match='no ANN'):
        search_videos(
            load_index(work['index32']), queries, weights, candidates=5)
    with pytest.raises(ValueError, match='index_factory'):
        ClipANN('NotAnIndex42', '', weights).build(index.clips)


def test_index_built_by_another_model_is_refused(work):
    other = random_checkpoint(osp.join(work['dir'], 'other.pth'), seed=1)
    with pytest.raises(SearchIndexError, match='built by another model') as e:
        PRVRInferencer(CFG, other, index=work['index32'])
    assert 'model.pth' in str(e.value)  # says which checkpoint built it


def test_bad_queries_and_top_k(work, tiny_toy_root):
    inferencer = PRVRInferencer(CFG, work['ckpt'], index=work['index32'])
    feats = query_features(tiny_toy_root, ['toy_test_00000#enc#0'])
    with pytest.raises(ValueError, match='query 1 is empty'):
        inferencer.search([feats[0], '   '])
    cfg = Config.fromfile(CFG)
    cfg.text_encoder = None
    with pytest.raises(ValueError, match='no text_encoder'):
        PRVRInferencer(
            cfg, work['ckpt'],
            index=work['index32']).search('someone opens the door')
    with pytest.raises(ValueError, match=r'expected \(L, 16\)'):
        inferencer.search(np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match='top_k'):
        inferencer.search(feats, top_k=0)
    pred = inferencer.search(feats, top_k=50)[0]
    assert len(pred['results']) == 12 and 'exceeds the 12 videos' in \
        pred['note']
    assert [r['rank'] for r in pred['results']] == list(range(1, 13))
    empty = PRVRInferencer(CFG, work['ckpt'])
    with pytest.raises(SearchIndexError, match='no search index'):
        empty.search(feats)


def test_index_under_other_fusion_weights_is_refused(work):
    """The evaluator owns the fusion weights: an index built under 0.7 is
    refused by a config whose test evaluator says 0.5."""
    cfg = Config.fromfile(CFG)
    cfg.test_evaluator.fusion_weight = 0.5
    with pytest.raises(SearchIndexError, match='fusion weights') as e:
        PRVRInferencer(cfg, work['ckpt'], index=work['index32'])
    assert "'inher': 0.7" in str(e.value) and "'inher': 0.5" in str(e.value)


def test_bad_index_files(work, tmp_path):
    with pytest.raises(SearchIndexError, match='not found'):
        load_index(str(tmp_path / 'nothing.h5'))
    text = tmp_path / 'text.h5'
    text.write_text('hello')
    with pytest.raises(SearchIndexError, match='not an HDF5 file'):
        load_index(str(text))
    other = tmp_path / 'other.h5'
    with h5py.File(other, 'w') as f:
        f['x'] = np.zeros(3)
    with pytest.raises(SearchIndexError, match='not a search index'):
        load_index(str(other))
    broken = tmp_path / 'broken.h5'
    import shutil
    shutil.copy(work['index32'], broken)
    with h5py.File(broken, 'a') as f:
        del f['spans']
    with pytest.raises(SearchIndexError, match="missing key 'spans'"):
        load_index(str(broken))
    with h5py.File(broken, 'a') as f:
        f['spans'] = np.zeros((3, 2))
    with pytest.raises(SearchIndexError, match=r'spans has shape \(3, 2\)'):
        load_index(str(broken))


def test_feature_file_collection_and_video_files(work, tiny_toy_root,
                                                 tmp_path):
    """Index a feature file directly (no caption file): every video, with
    durations from a per-row duration, and raw files where present."""
    videos = tmp_path / 'videos'
    videos.mkdir()
    (videos / 'toy_test_00003.mp4').write_bytes(b'not really a video')
    (videos / 'toy_test_00004.MKV').write_bytes(b'')
    inferencer = PRVRInferencer(CFG, work['ckpt'])
    index = inferencer.index(
        osp.join(tiny_toy_root, 'FeatureData', 'toy_i3d'),
        clip_seconds=0.5,
        video_dir=str(videos))
    assert len(index) == 48  # train + val + test videos of the BigFile
    paths = dict(zip(index.video_ids, index.video_paths))
    assert paths['toy_test_00003'] == str(videos / 'toy_test_00003.mp4')
    assert paths['toy_test_00004'] == str(videos / 'toy_test_00004.MKV')
    assert paths['toy_test_00005'] == ''
    assert bool(index.timed.all())
    feats = query_features(tiny_toy_root, ['toy_test_00003#enc#0'])
    results = inferencer.search(feats, top_k=48)[0]['results']
    by_id = {r['video_id']: r for r in results}
    assert by_id['toy_test_00003']['video_available']
    assert not by_id['toy_test_00005']['video_available']
    assert by_id['toy_test_00005']['video_path'] is None
    os.remove(videos / 'toy_test_00003.mp4')  # deleted after indexing
    results = inferencer.search(feats, top_k=48)[0]['results']
    gone = {r['video_id']: r for r in results}['toy_test_00003']
    assert gone['video_path'] and not gone['video_available']
    # spans follow the per-row duration; the last clip ends at T * 0.5 s
    v = index.video_ids.index('toy_test_00003')
    raw_rows = len(inferencer.search_index.clip_spans(v))
    assert index.clip_spans(v)[-1,
                               1] == pytest.approx(index.durations[v].item())
    assert raw_rows == int(index.num_clips[v])
    with pytest.raises(Exception, match='video folder not found'):
        inferencer.index(
            osp.join(tiny_toy_root, 'FeatureData', 'toy_i3d'),
            video_dir=str(tmp_path / 'nope'))


def load_demo():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'prvr_search_demo', osp.join(ROOT, 'demo', 'prvr_search.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_terminal_table(work, tiny_toy_root, tmp_path, capsys):
    index = str(tmp_path / 'demo.index.h5')
    # the real command line once: build the index, search, print a table
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', COLUMNS='160')
    command = [
        sys.executable,
        osp.join(ROOT, 'demo', 'prvr_search.py'), CFG, work['ckpt'], '--index',
        index, '--build-index', 'test', '--data-root', tiny_toy_root,
        '--query', 'someone carries the cup', '--top-k', '3', '--json',
        str(tmp_path / 'out.json')
    ]
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'indexed 12 videos' in proc.stdout
    assert "'someone carries the cup': top 3 of 12 videos" in proc.stdout
    with open(tmp_path / 'out.json') as f:
        preds = json.load(f)
    for r in preds[0]['results']:
        assert r['video_id'] in proc.stdout
    # bad input: a clear message and exit code 2, no traceback
    demo = load_demo()
    other = random_checkpoint(str(tmp_path / 'other.pth'), seed=3)
    toy = ['--data-root', tiny_toy_root]
    cases = [
        ([work['ckpt'], '--index', index], 'nothing to do'),
        ([work['ckpt'], '--index', index, '--query', ' '], 'query 0 is empty'),
        ([work['ckpt'], '--index', index, '--query', 'zebra',
          *toy], 'toy vocabulary'),
        ([
            work['ckpt'], '--index', index, '--query', 'x', '--cfg-options',
            'text_encoder=None'
        ], 'no text_encoder'),
        ([other, '--index', index, '--query', 'x'], 'built by another model'),
        ([work['ckpt'], '--index',
          str(tmp_path / 'no.h5'), '--query', 'x'], 'index not found'),
    ]
    from prvr_mm.utils.cli import run_tool as run_cli
    for args, message in cases:
        with pytest.raises(SystemExit) as stop:  # as `python demo/...` runs
            run_cli(lambda: demo.main([CFG, *args]), argv=[])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert message in err, err


def test_call_runs_the_base_inferencer_steps(work, tiny_toy_root, tmp_path):
    """``inferencer(...)`` is MMEngine's ``__call__`` (preprocess, forward,
    visualize, postprocess); ``visualize`` draws a PNG per query."""
    from mmengine.infer import BaseInferencer
    assert PRVRInferencer.__call__ is BaseInferencer.__call__
    inferencer = PRVRInferencer(CFG, work['ckpt'], index=work['index32'])
    feats = query_features(tiny_toy_root,
                           ['toy_test_00000#enc#0', 'toy_test_00003#enc#0'])
    plain = inferencer(feats, top_k=3)
    assert plain['visualization'] is None
    assert len(plain['predictions']) == 2
    assert 'curves' not in plain['predictions'][0]['results'][0]
    out = inferencer(
        feats,
        batch_size=2,
        top_k=3,
        vis_out_dir=str(tmp_path / 'vis'),
        vis_topk=2,
        return_curves=True,
        pred_out_file=str(tmp_path / 'preds.json'))
    paths = out['visualization']
    assert [osp.basename(p)
            for p in paths] == ['query_00000.png', 'query_00001.png']
    for path in paths:
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert out['predictions'] == inferencer.search(
        feats, top_k=3, return_curves=True)
    with open(tmp_path / 'preds.json') as f:
        assert json.load(f)['predictions'][1]['results'][0]['curves']
    images = inferencer(feats[:1], top_k=2, return_vis=True)['visualization']
    assert images[0].dtype == np.uint8 and images[0].shape[2] == 3
    raw = inferencer(feats[:1], top_k=2, return_datasamples=True)
    curves = raw['predictions'][0]['results'][0]['curves']
    assert isinstance(curves['fused'], np.ndarray)


def test_indexer_alone_matches_the_inferencer(work, tiny_toy_root):
    """``VideoIndexer`` (indexing apart from search) builds the index that
    the inferencer's thin ``index`` delegate builds."""
    indexer = VideoIndexer.from_config(CFG, work['ckpt'], batch_size=4)
    index = indexer.index('test', data_root=tiny_toy_root, dtype='float32')
    ref = load_index(work['index32'])
    assert index.video_ids == ref.video_ids
    for key in ('weights', 'pipeline', 'branches', 'fusion_weights'):
        assert index.fingerprint[key] == ref.fingerprint[key]
    for b in ref.branches:
        assert torch.allclose(index.clips[b], ref.clips[b], atol=1e-6)
    assert torch.equal(index.spans, ref.spans)
