"""Exact time from the video to the search hit: the extraction tools record
each video's real duration and the span of every feature row, and the
search index (built through the real ``demo/prvr_search.py``) gives moments
inside the real video, whatever ``--clip-seconds`` says."""
import json
import os.path as osp
import runpy

import h5py
import numpy as np
import pytest
import torch

from prvr_mm.apis.collection import FeatureCollection
from prvr_mm.apis.index_io import load_index
from prvr_mm.apis.indexing import VideoIndexer
from prvr_mm.datasets.feature_times import (TIMES_SIDECAR, read_times,
                                            segment_spans)
from prvr_mm.datasets.layout import write_h5
from prvr_mm.datasets.toy_videos import write_mp4
from prvr_mm.errors import PRVRDataError
from prvr_mm.models.teachers.open_clip_utils import build_clip
from tests.helpers.tiny_models import (make_tiny_recognizer,
                                       write_tiny_clip_config)
from tests.helpers.tools import ROOT, save_random_checkpoint

#: odd real durations (seconds) of the generated videos, at 100 fps
DURATIONS = dict(short=2.57, long=10.0)
FPS = 100


def _main(*parts):
    return runpy.run_path(osp.join(ROOT, *parts))['main']


def _write_video(path, duration):
    n = int(round(duration * FPS))
    rng = np.random.default_rng(n)
    base = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    frames = (np.roll(base, i % 16, axis=1) for i in range(n))
    write_mp4(path, frames, FPS)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Two videos, their student features (tiny X3D, h5 and BigFile) and
    CLIP frame features (tiny CLIP), extracted by the real tools."""
    base = tmp_path_factory.mktemp('exact_time')
    videos = base / 'videos'
    videos.mkdir()
    for vid, d in DURATIONS.items():
        _write_video(str(videos / f'{vid}.mp4'), d)
    rec = make_tiny_recognizer(
        str(base / 'x3d.py'), str(base / 'x3d.pth'), kind='3d')
    student = str(base / 'x3d.hdf5')
    bigfile = str(base / 'FeatureData' / 'x3d')
    for out in (student, bigfile):
        assert _main('tools', 'data', 'extract_video_features.py')([
            rec,
            str(videos), out, '--checkpoint',
            str(base / 'x3d.pth'), '--sample-fps', '4', '--workers', '0',
            '--no-progress'
        ]) == 0
    clip_cfg = write_tiny_clip_config(str(base / 'tiny-clip.json'))
    torch.manual_seed(0)
    weights = str(base / 'tiny-clip.pt')
    torch.save(
        build_clip(dict(model_cfg=clip_cfg)).model.state_dict(), weights)
    clip_out = str(base / 'clip.hdf5')
    assert _main('tools', 'data', 'extract_clip_features.py')([
        str(videos),
        str(base), 'c', '--fps', '0.6667', '--model-config', clip_cfg,
        '--pretrained', weights, '--quick-gelu', '--video-out', clip_out,
        '--no-text', '--no-check', '--workers', '0', '--no-progress'
    ]) == 0
    return dict(
        base=base,
        student=student,
        bigfile=bigfile,
        clip=clip_out,
        clip_cfg=clip_cfg,
        weights=weights)


def _check_spans(spans, duration):
    spans = np.asarray(spans)
    assert (spans[:, 0] >= 0).all() and (spans[:, 1] <= duration).all()
    assert (spans[:, 0] <= spans[:, 1]).all()


def test_extraction_records_real_duration_and_row_spans(data):
    for path in (data['student'], data['bigfile'], data['clip']):
        times = read_times(path)
        assert sorted(times) == sorted(DURATIONS), path
        for vid, (duration, spans) in times.items():
            # the reader's duration: last frame time + 1 / fps
            assert duration == pytest.approx(DURATIONS[vid], abs=1e-6)
            _check_spans(spans, duration)
            assert spans[-1, 1] == pytest.approx(duration, abs=1e-6)
            assert spans[0, 0] == 0
    assert osp.isfile(osp.join(data['bigfile'], TIMES_SIDECAR))
    # 4 samples / s, clips of 8 samples: 10 and 40 samples
    short = read_times(data['student'])['short'][1]
    np.testing.assert_allclose(short, [[0, 2.0], [2.0, 2.57]])
    # CLIP frames: round(d * 0.6667) uniform steps over the real duration
    clip = read_times(data['clip'])
    np.testing.assert_allclose(clip['short'][1], [[0, 1.285], [1.285, 2.57]])
    assert len(clip['long'][1]) == 7
    # MS-SL readers still see one (T, D) array per video and nothing else
    with h5py.File(data['student'], 'r') as f:
        assert sorted(f) == ['long', 'short'] and f['short'].shape == (2, 32)


def _search_config(data, max_len):
    cfg = data['base'] / f'search_{max_len}.py'
    cfg.write_text(f"""
_base_ = [{osp.join(ROOT, 'tests', 'data', 'configs',
                    'e2e_extracted.py')!r}]
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='UniformClipSampling', max_len={max_len}),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=30),
    dict(type='PackPRVRInputs'),
]))
text_encoder = dict(type='OpenCLIPTextEncoder',
                    model_cfg={data['clip_cfg']!r},
                    pretrained={data['weights']!r}, quick_gelu=True)
""")
    return str(cfg)


@pytest.mark.parametrize('source,max_len', [('student', 3), ('bigfile', 128),
                                            ('clip', 3)])
def test_search_moments_lie_within_the_video(data, source, max_len, capsys):
    """``--clip-seconds 1.5`` (rows x 1.5 s: 3.0 s for the 2.57 s video)
    is ignored for files with times; the pipeline averages rows into at
    most ``max_len`` clips, each covering the rows it averages."""
    cfg = _search_config(data, max_len)
    ckpt = save_random_checkpoint(str(data['base'] / 'model.pth'), cfg)
    index_path = str(data['base'] / f'{source}.index.h5')
    out = str(data['base'] / f'{source}.json')
    code = _main('demo', 'prvr_search.py')([
        cfg, ckpt, '--index', index_path, '--build-index', data[source],
        '--clip-seconds', '1.5', '--query', 'a square moves', '--query',
        'something at the end', '--top-k', '2', '--json', out
    ])
    assert code == 0, capsys.readouterr().err
    index = load_index(index_path)
    real = read_times(data[source])
    ends = {}
    for v, vid in enumerate(index.video_ids):
        duration = DURATIONS[vid]
        spans = index.clip_spans(v).numpy()
        assert float(index.durations[v]) == pytest.approx(duration)
        assert bool(index.timed[v])
        _check_spans(spans, duration)
        np.testing.assert_allclose(
            spans, segment_spans(real[vid][1], len(spans)), atol=1e-9)
        if len(spans) == len(real[vid][1]):  # not averaged: whole video
            assert spans[-1, 1] == pytest.approx(duration)
        ends[vid] = float(spans[:, 1].max())
    with open(out) as f:
        preds = json.load(f)
    hits = [r for p in preds for r in p['results']]
    assert len(hits) == 4
    for hit in hits:
        start, end = hit['moment']
        assert hit['unit'] == 's'
        assert 0 <= start <= end <= DURATIONS[hit['video_id']] + 1e-9
    print(f'\n{source}: durations {DURATIONS}, max span end {ends}')


def test_fallback_without_times_is_uniform_over_clip_seconds(tmp_path):
    """A file without times (MS-SL packs): duration = rows x clip_seconds
    (or the meta file's), uniform clips; a damaged times record is a named
    error."""
    path = str(tmp_path / 'feats.hdf5')
    write_h5(path, dict(a=np.ones((4, 8)), b=np.ones((2, 8))))
    coll = FeatureCollection(path, durations=dict(b=3.0), clip_seconds=1.5)
    items = {it['video_id']: it for it in coll}
    assert items['a']['times'] is None and items['a']['duration'] == 6.0
    assert items['b']['duration'] == 3.0
    spans = VideoIndexer.spans(list(items.values()), torch.tensor([4, 2]))
    np.testing.assert_allclose(spans[0],
                               [[0, 1.5], [1.5, 3], [3, 4.5], [4.5, 6]])
    np.testing.assert_allclose(spans[1], [[0, 1.5], [1.5, 3]])
    # no duration at all: clip units
    items['a']['duration'] = None
    np.testing.assert_allclose(
        VideoIndexer.spans([items['a']], torch.tensor([2]))[0],
        [[0, 1], [1, 2]])
    coll.reader.close()
    # times of the wrong length (features rewritten without them)
    with h5py.File(path, 'a') as f:
        f['a'].attrs.update(duration=2.0, times=np.zeros((3, 2)))
    coll = FeatureCollection(path)
    with pytest.raises(
            PRVRDataError,
            match=r"feats.hdf5: video 'a' has 4 "
            r'feature rows but times of shape \(3, 2\)'):
        list(coll)
    coll.reader.close()
    with h5py.File(path, 'a') as f:
        f['a'].attrs['times'] = np.array([[0, 1], [1, 2], [2, 3], [3, 4.0]])
    with pytest.raises(PRVRDataError, match="row 2 has the span"):
        list(FeatureCollection(path))


def test_segment_spans_follow_the_averaging_rule():
    times = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 4.5]], np.float64)
    # uniform_feature_sampling(5 rows, 2): rows [0, 2) and [2, 4)
    np.testing.assert_allclose(segment_spans(times, 2), [[0, 2], [2, 4]])
    np.testing.assert_allclose(segment_spans(times, 5), times)
    np.testing.assert_allclose(segment_spans(times, None), times)
