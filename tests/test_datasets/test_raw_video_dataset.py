"""PRVRRawVideoDataset + mmaction2 decoding transforms on tiny toy videos:
items, bad inputs (missing, corrupt, frame-count-less containers)."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, MODELS
from mmengine.dataset import Compose, pseudo_collate

from prvr_mm.datasets.readers import PRVRDataError

TEACHER = dict(
    model_cfg=dict(
        embed_dim=16,
        vision_cfg=dict(
            layers=1, width=32, head_width=16, patch_size=8, image_size=32),
        text_cfg=dict(
            context_length=77, vocab_size=49408, width=32, heads=2, layers=1)))


def _pipeline(num_clips=4, clip_len=2, teacher=True, test_mode=False):
    pipe = [
        dict(type='CheckedPyAVInit'),
        dict(
            type='SampleFrames',
            clip_len=clip_len,
            frame_interval=1,
            num_clips=num_clips,
            test_mode=test_mode),
        dict(type='CheckedPyAVDecode'),
    ]
    if teacher:
        pipe.append(dict(type='CLIPTeacherFrames', clip_model=TEACHER))
    return pipe + [
        dict(type='Resize', scale=(-1, 24)),
        dict(type='CenterCrop', crop_size=24),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='L2Normalize', keys=('query_feats', )),
        dict(type='TruncateTokens', max_len=6),
        dict(type='PackPRVRRawInputs'),
    ]


def _dataset(root, split='train', **kwargs):
    cfg = dict(
        type='PRVRRawVideoDataset',
        data_root=root,
        ann_file=f'TextData/toyvid{split}.caption.txt',
        text_feature='TextData/hashword_toyvid_query_feat.hdf5',
        text_dim=32,
        meta_file='TextData/toyvid_meta.json',
        pipeline=_pipeline(test_mode=True))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_items_batches_and_preprocessing(tiny_raw_root):
    ds = _dataset(tiny_raw_root)
    assert len(ds) == 6
    item = ds[0]
    x, meta = item['inputs'], item['data_samples']
    assert x['video'].shape == (4, 3, 2, 24, 24)
    assert x['video'].dtype == torch.uint8
    assert x['teacher_frames'].shape == (4, 3, 32, 32)
    assert x['queries'].shape[0] == len(meta.query_ids) == len(meta.sentences)
    assert meta.num_clips == 4 and len(meta.timestamps) == len(meta.query_ids)
    # one pipeline reads video files and frame folders alike
    assert meta.frame_dir.endswith('videos/toyvid_train_0000')
    with open(osp.join(tiny_raw_root, 'TextData', 'toyvid_meta.json')) as f:
        written = json.load(f)['videos']['toyvid_train_0000']
    assert written['format'] == 'frames'
    assert ds.get_data_info(0)['total_frames'] == written['num_frames']
    other = ds[1]['data_samples']
    assert other.filename.endswith(f'videos/{other.video_id}.mp4')
    assert ds[1]['inputs']['video'].shape == x['video'].shape

    mean, std = [120.0, 110.0, 100.0], [50.0, 60.0, 70.0]
    pre = MODELS.build(dict(type='PRVRDataPreprocessor', mean=mean, std=std))
    batch = pre(pseudo_collate([ds[i] for i in range(3)]), training=True)
    b = batch['inputs']
    assert b['video'].shape == (3, 4, 3, 2, 24, 24)
    assert b['teacher_frames'].shape == (3, 4, 3, 32, 32)
    assert b['teacher_frames'].dtype == torch.uint8
    # the sentences follow the (sorted) queries
    samples = batch['data_samples']
    assert b['teacher_text'] == [s for d in samples for s in d.sentences]
    assert len(b['teacher_text']) == len(b['query_to_video'])
    # mmaction2 ActionDataPreprocessor normalisation, channel by channel
    first = samples[0]
    raw = next(ds[i] for i in range(3) if ds[i]['data_samples'].video_id ==
               first.video_id)['inputs']['video'].float()
    expected = (raw - torch.tensor(mean).view(
        3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
    assert torch.allclose(b['video'][0], expected, atol=1e-5)


def test_missing_video_files_are_named(tiny_raw_root, tmp_path):
    root = str(tmp_path / 'copy')
    shutil.copytree(tiny_raw_root, root)
    os.remove(osp.join(root, 'videos', 'toyvid_val_0001.mp4'))
    with pytest.raises(
            PRVRDataError, match=r"1 of 3 videos .*'toyvid_val_0001'"):
        _dataset(root, 'val')
    with pytest.raises(PRVRDataError, match='video folder not found'):
        _dataset(root, 'val', data_prefix=dict(video='no_such_folder'))
    with pytest.raises(ValueError, match='not video_feature'):
        _dataset(root, 'val', video_feature='FeatureData/x')
    with pytest.raises(
            PRVRDataError,
            match=r"toyvid_train_0000: frame folder without "
            r"'img_00001.jpg'"):
        _dataset(root, 'train', frame_tmpl='img_{:05d}.jpg')


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'empty'])
def test_a_corrupt_video_in_a_split_names_the_file(tiny_raw_root, tmp_path,
                                                   damage):
    root = str(tmp_path / damage)
    shutil.copytree(tiny_raw_root, root)
    path = osp.join(root, 'videos', 'toyvid_train_0002.mp4')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write({
            'garbage': b'\x00not a video\x01' * 50,
            'truncated': data[:len(data) // 3],
            'empty': b''
        }[damage])
    ds = _dataset(root)
    ds[1]  # the others decode
    idx = [ds.get_data_info(i)['video_id']
           for i in range(len(ds))].index('toyvid_train_0002')
    with pytest.raises(PRVRDataError) as err:
        ds[idx]
    assert path in str(err.value) and 'toyvid_train_0002' in str(err.value)


def test_containers_without_a_frame_count(tmp_path):
    """PyAVInit reports 0 frames for Matroska/WebM; CheckedPyAVInit counts
    them and decoding then works."""
    from prvr_mm.datasets.toy_videos import write_mp4
    path = str(tmp_path / 'clip.mkv')
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(11)]
    write_mp4(path, frames, fps=8, codec='mpeg4')
    plain = Compose([dict(type='PyAVInit')])(dict(filename=path))
    assert plain['total_frames'] == 0  # mmaction2's own transform
    pipe = Compose([
        dict(type='CheckedPyAVInit'),
        dict(type='SampleFrames', clip_len=1, num_clips=11, test_mode=True),
        dict(type='CheckedPyAVDecode'),
    ])
    out = pipe(dict(filename=path, start_index=0, modality='RGB'))
    assert out['total_frames'] == 11
    means = [img.mean() for img in out['imgs']]
    assert np.all(np.diff(means) > 0)  # the 11 distinct frames, in order


def test_teacher_frames_use_open_clips_own_resize_and_crop():
    """A non-square frame: CLIPTeacherFrames == open_clip's transform
    (before ToTensor/Normalize)."""
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    from prvr_mm.models.teachers.open_clip_utils import resolve_preprocess_cfg
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (45, 80, 3), dtype=np.uint8)
    t = Compose([dict(type='CLIPTeacherFrames', clip_model=TEACHER)])
    out = t(dict(imgs=[img, img], num_clips=1, clip_len=2))['teacher_frames']
    assert out.shape == (1, 32, 32, 3) and out.dtype == np.uint8
    ref = image_transform_v2(
        PreprocessCfg(**resolve_preprocess_cfg(TEACHER)), is_train=False)
    expected = ref(Image.fromarray(img))  # (3, 32, 32) normalised
    mine = torch.from_numpy(out[0]).permute(2, 0, 1).float().div(255)
    pp = resolve_preprocess_cfg(TEACHER)
    mine = (mine - torch.tensor(pp['mean']).view(3, 1, 1)) / torch.tensor(
        pp['std']).view(3, 1, 1)
    assert torch.allclose(mine, expected, atol=1e-6)


def test_decode_transforms_use_the_exact_reader(tmp_path):
    """CheckedPyAVInit/Decode read through video_io.PyAVReader: the frames
    of a sequential decode (B-frames), the reader closed after decoding."""
    import av

    from prvr_mm.datasets.toy_videos import write_mp4
    from prvr_mm.datasets.video_io import PyAVReader
    path = str(tmp_path / 'b.mp4')
    frames = [np.full((32, 32, 3), 7 * i, np.uint8) for i in range(30)]
    write_mp4(path, frames, 10.0, options=dict(g='8', bf='3', threads='1'))
    with av.open(path) as c:
        full = [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]
    init = Compose([dict(type='CheckedPyAVInit')])(
        dict(filename=path, start_index=0, modality='RGB'))
    reader = init['video_reader']
    assert isinstance(reader, PyAVReader) and init['total_frames'] == 30
    inds = np.array([29, 3, 3, 17, 0])
    out = Compose([dict(type='CheckedPyAVDecode')])(
        dict(init, frame_inds=inds))
    assert out['video_reader'] is None and out['img_shape'] == (32, 32)
    for i, img in zip(inds, out['imgs']):
        np.testing.assert_array_equal(img, full[i])
