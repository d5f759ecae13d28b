"""Tests of the tiny raw-video PRVR collection generator."""
import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest

from prvr_mm.datasets.layout import video_id_of
from prvr_mm.datasets.readers import parse_caption_file
from prvr_mm.datasets.toy_videos import (COLOURS, DIRECTIONS, SHAPES,
                                         ensure_toy_videos, make_toy_videos)
from tests.helpers.videos import write_corrupt_mp4

SMALL = dict(
    num_videos=dict(train=4, val=2, test=2),
    duration=(2.0, 3.0),
    moment_len=(0.8, 1.2))


def _decode(path):
    import av
    with av.open(path) as c:
        return [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]


def test_layout_meta_and_determinism(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    stats = make_toy_videos(a, seed=3, frame_folders=1, **SMALL)
    make_toy_videos(b, seed=3, frame_folders=1, **SMALL)
    assert stats['train_videos'] == 4 and stats['frame_folders'] == 1
    # same arguments, identical bytes (captions, meta, mp4, jpg)
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        d = stack.pop()
        assert not d.left_only and not d.right_only
        _, mismatch, errors = filecmp.cmpfiles(
            d.left, d.right, d.common_files, shallow=False)
        assert not mismatch and not errors, mismatch
        stack.extend(d.subdirs.values())
    # a different seed changes the captions
    c = str(tmp_path / 'c')
    make_toy_videos(c, seed=4, **SMALL)
    assert open(f'{a}/TextData/toyvidtrain.caption.txt').read() != \
        open(f'{c}/TextData/toyvidtrain.caption.txt').read()

    with open(f'{a}/TextData/toyvid_meta.json') as f:
        meta = json.load(f)
    cap_ids = []
    for split, n in SMALL['num_videos'].items():
        pairs = parse_caption_file(f'{a}/TextData/toyvid{split}.caption.txt')
        assert len({video_id_of(c) for c, _ in pairs}) == n
        for cap_id, sentence in pairs:
            colour, shape, direction = meta['queries'][cap_id]['concept']
            assert colour in COLOURS and shape in SHAPES
            assert direction in DIRECTIONS
            for word in (colour, shape, direction):
                assert word in sentence.split()
            start, end = meta['queries'][cap_id]['timestamps']
            info = meta['videos'][video_id_of(cap_id)]
            assert 0 <= start < end <= info['duration']
            cap_ids.append(cap_id)
    assert sorted(cap_ids) == sorted(meta['queries'])

    frames_vid = [
        v for v, i in meta['videos'].items() if i['format'] == 'frames'
    ]
    assert frames_vid == ['toyvid_train_0000']
    info = meta['videos'][frames_vid[0]]
    jpgs = sorted(os.listdir(osp.join(a, info['path'])))
    assert jpgs[0] == '000001.jpg' and len(jpgs) == info['num_frames']
    assert abs(info['duration'] - info['num_frames'] / info['fps']) < 1e-6

    mp4 = meta['videos']['toyvid_val_0001']
    frames = _decode(osp.join(a, mp4['path']))
    assert len(frames) == mp4['num_frames']
    assert frames[0].shape == (64, 64, 3)

    # the planted moment is visible: at the centre of a moment the frame
    # holds pixels of the moment's colour, absent outside every moment
    vid = 'toyvid_val_0001'
    moments = [(q['timestamps'], q['concept'][0])
               for c, q in meta['queries'].items() if video_id_of(c) == vid]
    (start, end), colour = moments[0]
    centre = frames[int((start + end) / 2 * mp4['fps'])].astype(int)
    rgb = np.array(COLOURS[colour])
    assert (np.abs(centre - rgb).sum(-1) < 60).sum() > 30

    import av
    corrupt = write_corrupt_mp4(f'{a}/videos/toyvid_corrupt.mp4')
    with pytest.raises(av.error.FFmpegError):
        _decode(corrupt)


def test_ensure_and_validation(tmp_path):
    root = str(tmp_path / 'v')
    assert ensure_toy_videos(
        root, num_videos=3, duration=(1.0, 1.5),
        moment_len=(0.5, 0.6)) is not None
    mtime = os.path.getmtime(f'{root}/TextData/toyvidtrain.caption.txt')
    assert ensure_toy_videos(root, num_videos=3) is None
    assert os.path.getmtime(
        f'{root}/TextData/toyvidtrain.caption.txt') == mtime
    with pytest.raises(ValueError, match='unknown toy video options'):
        make_toy_videos(str(tmp_path / 'x'), colour='red')
    with pytest.raises(ValueError, match='frame_folders'):
        make_toy_videos(str(tmp_path / 'y'), num_videos=3, frame_folders=5)
    assert not osp.exists(tmp_path / 'x') and not osp.exists(tmp_path / 'y')
