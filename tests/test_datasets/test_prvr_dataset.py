"""PRVRFeatureDataset, its transforms and the toy generator."""
import filecmp
import os.path as osp

import numpy as np
import pytest
from mmaction.registry import DATASETS, TRANSFORMS

from prvr_mm.datasets import PRVRFeatureDataset
from prvr_mm.datasets.toy import make_toy_dataset
from prvr_mm.datasets.transforms import (average_to_fixed_length,
                                         uniform_feature_sampling)

FEATS = dict(
    video_feature='FeatureData/toy_i3d',
    text_feature='TextData/roberta_toy_query_feat.hdf5',
    teacher_video_feature='FeatureData/new_clip_vit_32_toy_vid_features.hdf5',
    teacher_text_feature='TextData/clip_ViT_B_32_toy_query_feat.hdf5',
    meta_file='TextData/toy_meta.json',
    video_dim=32,
    text_dim=16,
    teacher_dim=8)
PIPELINE = [
    dict(type='AlignTeacherClips'),
    dict(type='UniformClipSampling', max_len=6),
    dict(type='L2Normalize'),
    dict(type='TruncateTokens', max_len=4),
    dict(type='PackPRVRInputs'),
]


def build(root, split='train', **kwargs):
    cfg = dict(
        type='PRVRFeatureDataset',
        data_root=root,
        ann_file=f'TextData/toy{split}.caption.txt',
        pipeline=PIPELINE,
        **FEATS)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_one_item_is_one_video_with_all_its_queries(tiny_toy_root):
    ds = build(tiny_toy_root)
    assert len(ds) == 24
    with open(osp.join(tiny_toy_root, 'TextData',
                       'toytrain.caption.txt')) as f:
        cap_ids = [line.split(' ', 1)[0] for line in f]
    assert ds.query_ids == cap_ids
    item = ds[0]
    x, meta = item['inputs'], item['data_samples']
    n = len(meta.query_ids)
    assert all(q.startswith(meta.video_id + '#') for q in meta.query_ids)
    assert x['video'].shape[0] <= 6 and x['video'].shape[1] == 32
    assert x['teacher_video'].shape == (x['video'].shape[0], 8)
    assert x['queries'].shape[0] == n and x['queries'].shape[1] <= 4
    assert x['teacher_queries'].shape == (n, 8)
    assert np.allclose(x['video'].norm(dim=-1).numpy(), 1.0, atol=1e-3)
    assert meta.duration > 0 and len(meta.timestamps) == n


def test_eval_split_needs_no_teacher(tiny_toy_root):
    feats = {k: v for k, v in FEATS.items() if 'teacher' not in k}
    cfg = dict(
        type='PRVRFeatureDataset',
        data_root=tiny_toy_root,
        ann_file='TextData/toytest.caption.txt',
        pipeline=PIPELINE[1:],
        test_mode=True,
        **feats)
    item = DATASETS.build(cfg)[3]
    assert 'teacher_video' not in item['inputs']


def test_dataset_pickles_without_open_handles(tiny_toy_root):
    import pickle
    ds = build(tiny_toy_root)
    ds[0]  # opens the h5 handles and the memmap
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.text_reader._handle is None
    assert clone[1]['data_samples'].video_id == ds[1]['data_samples'].video_id


def test_generate_toy_on_first_use(tmp_path):
    root = str(tmp_path / 'auto_toy')
    ds = build(
        root,
        generate_toy=dict(
            seed=3,
            num_videos=dict(train=5, val=2, test=2),
            frames=(6, 9),
            video_dim=32,
            query_dim=16,
            teacher_dim=8,
            latent_dim=8))
    assert osp.isdir(root) and len(ds) == 5


def test_toy_dataset_is_deterministic(tmp_path):
    opts = dict(
        num_videos=dict(train=4, val=2, test=3),
        frames=(6, 9),
        video_dim=16,
        query_dim=8,
        teacher_dim=8,
        latent_dim=4)
    make_toy_dataset(str(tmp_path / 'a'), seed=1, **opts)
    make_toy_dataset(str(tmp_path / 'b'), seed=1, **opts)
    for rel in ('TextData/toytrain.caption.txt',
                'FeatureData/toy_i3d/feature.bin',
                'FeatureData/toy_i3d/video2frames.txt'):
        assert filecmp.cmp(
            tmp_path / 'a' / rel, tmp_path / 'b' / rel, shallow=False), rel
    with pytest.raises(ValueError, match='unknown toy dataset options'):
        make_toy_dataset(str(tmp_path / 'c'), colour='red')


def test_default_toy_test_split_has_at_least_500_videos():
    from prvr_mm.datasets.toy import DEFAULTS
    assert DEFAULTS['num_videos']['test'] >= 500


def test_uniform_sampling_averages_segments():
    x = np.arange(10, dtype=np.float32)[:, None].repeat(2, 1)
    out = uniform_feature_sampling(x, 4)
    # bounds round(linspace(0, 10, 5)) = [0, 2, 5, 8, 10->9]
    assert out[:, 0].tolist() == [0.5, 3.0, 6.0, 8.0]
    assert uniform_feature_sampling(x, 20) is x
    assert average_to_fixed_length(x[:3], 5).shape == (5, 2)


def test_align_teacher_clips_both_ways():
    align = TRANSFORMS.build(dict(type='AlignTeacherClips'))
    out = align(
        dict(video_feat=np.ones((9, 3)), teacher_video_feat=np.ones((4, 2))))
    assert out['video_feat'].shape == (4, 3)
    out = align(
        dict(video_feat=np.ones((3, 3)), teacher_video_feat=np.ones((5, 2))))
    assert out['teacher_video_feat'].shape == (3, 2)


def test_transforms_validate_arguments():
    with pytest.raises(ValueError, match='max_len'):
        TRANSFORMS.build(dict(type='UniformClipSampling', max_len=0))
    with pytest.raises(ValueError, match='max_len'):
        TRANSFORMS.build(dict(type='TruncateTokens', max_len=0))


def test_dataset_class_is_registered():
    assert DATASETS.get('PRVRFeatureDataset') is PRVRFeatureDataset
