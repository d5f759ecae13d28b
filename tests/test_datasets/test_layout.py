"""The MS-SL layout module: file names, and writers that the readers, the
checker and the dataset read back."""
import json
import os.path as osp

import numpy as np
import pytest

from prvr_mm.datasets import (BigFileReader, H5FeatureReader,
                              PRVRFeatureDataset, parse_caption_file)
from prvr_mm.datasets.check import check_dataset
from prvr_mm.datasets.layout import (collection_files, collection_paths,
                                     teacher_text_key, video_id_of,
                                     write_bigfile, write_captions, write_h5,
                                     write_meta)


def test_names_of_the_published_collections():
    files = collection_files('tvr')
    assert files['video'] == osp.join('FeatureData', 'i3d_resnet')
    assert files['text'] == osp.join('TextData', 'roberta_tvr_query_feat.hdf5')
    assert files['caption_val'] == osp.join('TextData', 'tvrval.caption.txt')
    assert files['teacher_video'] == osp.join(
        'FeatureData', 'new_clip_vit_32_tvr_vid_features.hdf5')
    assert files['teacher_text'] == osp.join(
        'TextData', 'clip_ViT_B_32_tvr_query_feat.hdf5')
    paths = collection_paths('/r', 'charades')
    assert paths['dir'] == osp.join('/r', 'charades')
    assert paths['video'] == osp.join('/r', 'charades', 'FeatureData',
                                      'i3d_rgb_lgi')
    assert collection_files('mine', 'clip_feats')['video'] == osp.join(
        'FeatureData', 'clip_feats')
    with pytest.raises(ValueError, match='pass visual_feature'):
        collection_files('mine')
    assert video_id_of('v_1#enc#2') == 'v_1'
    assert teacher_text_key('v_1#enc#2') == 'v_1#2'


def _collection(root, rng):
    """Two videos with one and two queries, written with the writers."""
    paths = collection_paths(root, 'mine', 'feats')
    video = {
        'a': rng.standard_normal((3, 4)),
        'b': rng.standard_normal((5, 4))
    }
    caps = [('a#enc#0', 'x y'), ('b#enc#0', 'z'), ('b#enc#1', 'w v')]
    text = {c: rng.standard_normal((2, 6)) for c, _ in caps}
    for split in ('train', 'val', 'test'):
        write_captions(paths[f'caption_{split}'], caps)
    write_bigfile(paths['video'], video)
    write_h5(paths['text'], text)
    write_h5(paths['teacher_video'], {k: v[:, :2] for k, v in video.items()})
    write_h5(paths['teacher_text'], {
        teacher_text_key(c): np.ones((1, 2))
        for c, _ in caps
    })
    write_meta(paths['meta'], dict(a=3.0, b=5.0), {'a#enc#0': (0.5, 1.0)})
    return paths, video, caps, text


def test_writers_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    paths, video, caps, text = _collection(str(tmp_path), rng)
    big = BigFileReader(paths['video'], dim=4)
    assert big.keys() == ['a', 'b']
    for vid, feats in video.items():
        assert np.array_equal(big.read(vid), feats.astype(np.float32))
    h5 = H5FeatureReader(paths['text'], dim=6)
    for cap, feats in text.items():
        assert np.array_equal(h5.read(cap), feats.astype(np.float32))
    h5.close()
    assert parse_caption_file(paths['caption_train']) == caps
    with open(paths['meta']) as f:
        meta = json.load(f)
    assert meta['videos']['b'] == dict(duration=5.0)
    assert meta['queries']['a#enc#0'] == dict(timestamps=[0.5, 1.0])
    # 'a' mode adds keys, 'w' truncates
    write_h5(paths['text'], {'c#enc#0': np.zeros((1, 6))}, mode='a')
    h5 = H5FeatureReader(paths['text'])
    assert len(h5.keys()) == 4
    h5.close()
    write_h5(paths['text'], {'c#enc#0': np.zeros((1, 6))})
    h5 = H5FeatureReader(paths['text'])
    assert h5.keys() == ['c#enc#0']
    h5.close()
    with pytest.raises(ValueError, match="mode must be 'w' or 'a'"):
        write_h5(paths['text'], {}, mode='r')


def test_checker_and_dataset_read_the_layout(tmp_path):
    paths, video, caps, _ = _collection(
        str(tmp_path), np.random.default_rng(1))
    report = check_dataset(
        str(tmp_path),
        'mine',
        visual_feature='feats',
        video_dim=4,
        query_dim=6,
        teacher_dim=2)
    assert report.ok, report.format()
    ds = PRVRFeatureDataset(
        data_root=paths['dir'],
        collection='mine',
        split='train',
        visual_feature='feats',
        with_teacher=True,
        with_meta=True,
        video_dim=4,
        text_dim=6,
        teacher_dim=2)
    info = ds.get_data_info(0)
    assert info['video_id'] == 'a' and info['duration'] == 3.0
    sample = ds.load_features(ds.get_data_info(1))
    assert sample['teacher_video_feat'].shape == (5, 2)
    assert len(sample['teacher_query_feats']) == 2


def test_dataset_layout_arguments_are_checked(tmp_path):
    paths, *_ = _collection(str(tmp_path), np.random.default_rng(2))
    with pytest.raises(ValueError, match='split must be one of'):
        PRVRFeatureDataset(
            data_root=paths['dir'],
            collection='mine',
            visual_feature='feats',
            split='dev')
    with pytest.raises(ValueError, match='need collection'):
        PRVRFeatureDataset(
            data_root=paths['dir'],
            split='train',
            ann_file='x',
            video_feature='y',
            text_feature='z')
    with pytest.raises(ValueError, match='needs ann_file'):
        PRVRFeatureDataset(data_root=paths['dir'])
    # an explicit path wins over the layout's
    ds = PRVRFeatureDataset(
        data_root=paths['dir'],
        collection='mine',
        split='val',
        visual_feature='feats',
        ann_file=osp.join('TextData', 'minetrain.caption.txt'))
    assert ds.ann_file.endswith('minetrain.caption.txt')


def test_write_bigfile_streams_pairs(tmp_path):
    """A generator of (video id, features) pairs is written as it comes
    (extraction tools stream more than fits in memory)."""
    rng = np.random.default_rng(0)
    feats = {
        f'v{i}': rng.standard_normal((i + 1, 4)).astype(np.float32)
        for i in range(3)
    }
    folder = str(tmp_path / 'big')
    assert write_bigfile(folder, ((k, v) for k, v in feats.items())) == 3
    reader = BigFileReader(folder, dim=4)
    assert reader.keys() == ['v0', 'v1', 'v2']
    for k, v in feats.items():
        np.testing.assert_array_equal(reader.read(k), v)
    with pytest.raises(ValueError, match="video 'b' has features of shape"):
        write_bigfile(
            str(tmp_path / 'bad'), [('a', np.zeros((2, 4))),
                                    ('b', np.zeros((2, 5)))])


def test_one_meta_parser_for_dataset_and_search(tmp_path):
    """The dataset and the search (apis.collection) read meta files with
    layout.read_meta: a bad file names itself and the fix."""
    from prvr_mm.apis.collection import read_durations
    from prvr_mm.datasets.layout import read_meta
    from prvr_mm.errors import PRVRDataError
    rng = np.random.default_rng(0)
    paths, _, _, _ = _collection(str(tmp_path), rng)
    assert read_durations(paths['meta']) == dict(a=3.0, b=5.0)
    assert read_meta(paths['meta'])['queries']['a#enc#0'] == dict(
        timestamps=[0.5, 1.0])
    with open(paths['meta'], 'w') as f:
        f.write('{"videos": {"a": {"duration": 3.0},}')
    for read in (read_meta, read_durations, lambda p: PRVRFeatureDataset(
            data_root=paths['dir'],
            collection='mine',
            split='train',
            visual_feature='feats',
            with_meta=True)):
        with pytest.raises(PRVRDataError, match='is not valid JSON') as e:
            read(paths['meta'])
        assert paths['meta'] in str(e.value) and 'write_meta' in str(e.value)
    with open(paths['meta'], 'w') as f:
        f.write('[1, 2]')
    with pytest.raises(PRVRDataError, match='expected {"videos"'):
        read_meta(paths['meta'])


@pytest.mark.parametrize('collection', ['tvr', 'activitynet', 'charades'])
def test_config_dimensions_agree_with_the_layout(collection):
    """Feature dimensions: layout.COLLECTIONS / TEACHER_DIM own them (the
    checker and the tools read them there, configs cannot import Python);
    the dataset configs repeat the numbers and must agree."""
    from mmengine.config import Config

    from prvr_mm.datasets.layout import COLLECTIONS, TEACHER_DIM
    from tests.helpers.tools import ROOT
    base = osp.join(ROOT, 'configs', '_base_', 'datasets')
    cfg = Config.fromfile(osp.join(base, f'{collection}.py'))
    dims = COLLECTIONS[collection]
    assert (cfg.video_dim, cfg.query_dim) == (dims['video_dim'],
                                              dims['query_dim'])
    assert cfg.teacher_dim == TEACHER_DIM
    clip = Config.fromfile(osp.join(base, f'{collection}_clip.py'))
    assert clip.video_dim == clip.query_dim == TEACHER_DIM
