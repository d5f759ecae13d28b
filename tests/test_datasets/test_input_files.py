"""Input files that were misread without a word: frame folders in ffmpeg's
``%d.jpg`` naming, BigFile packs merged into one (an id twice), meta
timestamps in another unit, caption files with a BOM, a tab, a bad byte or
``#`` in a video id, an h5 locked by another process.  Each goes through the
real reader, dataset, checker or tool."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from mmaction.registry import DATASETS
from PIL import Image

from prvr_mm.datasets import BigFileReader, H5FeatureReader, PRVRDataError
from prvr_mm.datasets.check import check_dataset
from prvr_mm.datasets.layout import (frame_files, frame_pattern,
                                     parse_caption_file, write_captions,
                                     write_h5)
from prvr_mm.datasets.video_io import open_video
from tests.helpers.locks import h5_held_open

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = dict(visual_feature='toy_i3d', video_dim=32, query_dim=16, teacher_dim=8)


def _frames(folder, names):
    """JPEGs whose brightness is 20 x their position in ``names``."""
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        Image.new('RGB', (16, 16), (20 * i, ) * 3).save(osp.join(folder, name))
    return folder


def _brightness(frames):
    return [int(round(float(np.mean(f)) / 20)) for f in frames]


# ------------------------------------------------------------ frame folders
def test_ffmpeg_numbered_frames_are_read_in_time_order(tmp_path):
    """``%d.jpg`` (no zero padding): 10.jpg comes after 9.jpg, not 1.jpg."""
    folder = _frames(str(tmp_path / 'v'), [f'{i}.jpg' for i in range(1, 13)])
    assert frame_files(folder)[8:10] == ['9.jpg', '10.jpg']
    assert frame_pattern(folder) == ('{}.jpg', 1)
    reader = open_video(folder)
    assert _brightness(reader.get_frames(range(12))) == list(range(12))
    padded = _frames(
        str(tmp_path / 'w'), [f'img_{i:05d}.jpg' for i in range(0, 11)])
    assert frame_pattern(padded) == ('img_{:05d}.jpg', 0)


@pytest.mark.parametrize('names,shown', [
    (['1.jpg', '2.jpg', 'img_00003.jpg'], ("'1.jpg'", "'img_00003.jpg'")),
    (['1.jpg', '2.jpg', 'cover.jpg'], ("'1.jpg'", "'cover.jpg'")),
    (['1.jpg', '000002.jpg'], ("'1.jpg'", "'000002.jpg'")),
    (['000001.jpg', '000002.png'], ("'000001.jpg'", "'000002.png'")),
])
def test_frame_names_in_two_schemes_are_refused(tmp_path, names, shown):
    folder = _frames(str(tmp_path / 'v'), names)
    for read in (frame_files, open_video):
        with pytest.raises(PRVRDataError, match='named in 2 schemes') as err:
            read(folder)
        assert all(s in str(err.value) for s in shown), err.value


def test_frame_folder_with_a_missing_number_or_no_numbers(tmp_path):
    gap = _frames(str(tmp_path / 'gap'), ['1.jpg', '2.jpg', '4.jpg'])
    with pytest.raises(
            PRVRDataError,
            match=r"frame 3 is missing between '2.jpg' and '4.jpg'"):
        open_video(gap)
    words = _frames(str(tmp_path / 'words'), ['a.jpg', 'b.jpg'])
    with pytest.raises(PRVRDataError, match="without a frame number, e.g. "):
        frame_files(words)


def _raw_collection(root, frame_names):
    """A raw-video collection of one frame folder ``videos/v1``."""
    _frames(osp.join(root, 'videos', 'v1'), frame_names)
    _frames(osp.join(root, 'videos', 'v2'), frame_names)
    caps = [('v1#enc#0', 'a person'), ('v2#enc#0', 'a dog')]
    write_captions(osp.join(root, 'train.txt'), caps)
    write_h5(
        osp.join(root, 'text.hdf5'), {
            c: np.ones((3, 4))
            for c, _ in caps
        })


def _raw_dataset(root, **kwargs):
    return DATASETS.build(
        dict(
            type='PRVRRawVideoDataset',
            data_root=root,
            ann_file='train.txt',
            text_feature='text.hdf5',
            pipeline=[
                dict(
                    type='SampleFrames',
                    clip_len=12,
                    num_clips=1,
                    test_mode=True),
                dict(type='RawFrameDecode')
            ],
            **kwargs))


def test_raw_video_dataset_decodes_ffmpeg_frames_in_order(tmp_path):
    """mmaction2's RawFrameDecode reads ``frame_tmpl.format(i)``: the
    dataset checks the template against the folder's images in numeric
    order, and names the template that fits."""
    root = str(tmp_path)
    _raw_collection(root, [f'{i}.jpg' for i in range(1, 13)])
    with pytest.raises(
            PRVRDataError,
            match=r"frame folder without '000001.jpg' .*images are '1.jpg' "
            r"to '12.jpg': set frame_tmpl='\{\}.jpg' and "
            r'frame_start_index=1'):
        _raw_dataset(root)
    dataset = _raw_dataset(root, frame_tmpl='{}.jpg')
    assert dataset.get_data_info(0)['total_frames'] == 12
    assert _brightness(dataset[0]['imgs']) == list(range(12))
    os.rename(
        osp.join(root, 'videos', 'v2', '12.jpg'),
        osp.join(root, 'videos', 'v2', 'img_00012.jpg'))
    with pytest.raises(PRVRDataError, match='v2: frame images are named in'):
        _raw_dataset(root, frame_tmpl='{}.jpg')


# ------------------------------------------------------------ BigFile packs
def _merge_packs(folder):
    """Append the BigFile ``folder`` to itself, as a careless merge of two
    packs holding the same videos would."""
    with open(osp.join(folder, 'shape.txt')) as f:
        num, dim = (int(x) for x in f.read().split())
    for name in ('feature.bin', 'id.txt'):
        with open(osp.join(folder, name), 'rb') as f:
            data = f.read()
        with open(osp.join(folder, name), 'wb') as f:
            f.write(data + (b' ' if name == 'id.txt' else b'') + data)
    with open(osp.join(folder, 'shape.txt'), 'w') as f:
        f.write(f'{2 * num} {dim}')
    return num


def test_bigfile_id_listed_twice_names_it_and_both_rows(
        tmp_path, tiny_toy_root):
    root = str(tmp_path / 'toy')
    shutil.copytree(tiny_toy_root, root)
    folder = osp.join(root, 'FeatureData', 'toy_i3d')
    num = _merge_packs(folder)
    message = (f'id.txt lists {num} ids more than once (two BigFile packs '
               f"merged?), e.g. 'toy_train_00000_0' at rows 0 and {num}")
    with pytest.raises(PRVRDataError) as err:
        BigFileReader(folder)
    assert message in str(err.value)
    report = check_dataset(str(tmp_path), 'toy', **TOY)
    assert any(message in p for p in report.problems), report.format()


def test_bigfile_video_listed_twice_in_video2frames(tmp_path):
    from prvr_mm.datasets.layout import write_bigfile
    folder = str(tmp_path / 'big')
    write_bigfile(folder, {'a': np.ones((2, 3)), 'b': np.ones((1, 3))})
    with open(osp.join(folder, 'video2frames.txt'), 'w') as f:
        f.write("{'a': ['a_0', 'a_1'], 'b': ['b_0'], 'a': ['b_0']}")
    with pytest.raises(PRVRDataError, match="lists video 'a' twice"):
        BigFileReader(folder)


# ---------------------------------------------------------------- meta file
def _toy_copy(tmp_path, tiny_toy_root):
    root = str(tmp_path / 'toy')
    shutil.copytree(tiny_toy_root, root)
    return root, osp.join(root, 'TextData', 'toy_meta.json')


def _edit_meta(path, edit):
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, 'w') as f:
        json.dump(meta, f)


def _toy_dataset(root, **kwargs):
    return DATASETS.build(
        dict(
            type='PRVRFeatureDataset',
            data_root=root,
            collection='toy',
            split='train',
            visual_feature='toy_i3d',
            with_meta=True,
            **kwargs))


def _in_frames(meta):
    for query in meta['queries'].values():
        query['timestamps'] = [t * 30 for t in query['timestamps']]


def test_timestamps_in_frames_are_an_error_in_dataset_and_checker(
        tmp_path, tiny_toy_root):
    root, meta = _toy_copy(tmp_path, tiny_toy_root)
    assert _toy_dataset(root).get_data_info(0)['duration'] == 25.5
    _edit_meta(meta, _in_frames)
    expected = (r"toy_meta.json: query 'toy_train_00000#enc#0' has "
                r'timestamps \[45, 315\] beyond the 25.5 s of video '
                r"'toy_train_00000': timestamps must be seconds")
    with pytest.raises(PRVRDataError, match=expected) as err:
        _toy_dataset(root)
    assert 'frames or milliseconds' in str(err.value)
    assert 'more problems: tools/data/check_dataset.py' in str(err.value)
    report = check_dataset(str(tmp_path), 'toy', **TOY)
    assert not report.ok
    meta_problems = [p for p in report.problems if p.startswith('meta')]
    assert len(meta_problems) == 6, report.format()  # 5 shown + a count
    assert 'more problems of durations or timestamps' in meta_problems[-1]


@pytest.mark.parametrize('edit,expected', [
    (lambda m: m['videos']['toy_val_00003'].update(duration=-4.0),
     "video 'toy_val_00003' has duration -4.0, expected a number of "
     'seconds > 0'),
    (lambda m: m['videos'].pop('toy_test_00001'),
     "video 'toy_test_00001' has no duration"),
    (lambda m: m['queries']['toy_train_00001#enc#0'].update(
        timestamps=[9.0, 3.0]), "query 'toy_train_00001#enc#0' has "
     'timestamps [9, 3], expected 0 <= start <= end'),
    (lambda m: m['queries']['toy_train_00001#enc#0'].update(timestamps='1-3'),
     "query 'toy_train_00001#enc#0' has timestamps "
     "'1-3', expected [start, end] in seconds"),
    (lambda m: m['videos']['toy_train_00002'].update(duration='12 s'),
     "video 'toy_train_00002' has duration '12 s', expected a number of "
     'seconds > 0'),
])
def test_checker_reads_and_validates_the_meta_file(tmp_path, tiny_toy_root,
                                                   edit, expected):
    root, meta = _toy_copy(tmp_path, tiny_toy_root)
    _edit_meta(meta, edit)
    report = check_dataset(str(tmp_path), 'toy', **TOY)
    assert len(report.problems) == 1, report.format()
    assert report.problems[0].startswith(f'meta file: {meta}: {expected}')


def test_checker_tool_fails_on_a_bad_meta_file(tmp_path, tiny_toy_root):
    root, meta = _toy_copy(tmp_path, tiny_toy_root)
    _edit_meta(meta, lambda m: m['videos'].pop('toy_train_00004'))
    run = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'data', 'check_dataset.py'),
        str(tmp_path), 'toy', '--visual-feature', 'toy_i3d', '--video-dim',
        '32', '--query-dim', '16', '--teacher-dim', '8'
    ],
                         capture_output=True,
                         text=True,
                         cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert run.returncode == 1, run.stdout + run.stderr
    assert 'coverage train: 23/24 video durations' in run.stdout
    assert "video 'toy_train_00004' has no duration" in run.stdout


# ------------------------------------------------------------- caption files
def test_caption_file_with_bom_and_tabs_is_read(tmp_path, tiny_toy_root):
    root, _ = _toy_copy(tmp_path, tiny_toy_root)
    path = osp.join(root, 'TextData', 'toytrain.caption.txt')
    pairs = parse_caption_file(path)
    with open(path, 'wb') as f:
        f.write(b'\xef\xbb\xbf' +
                '\r\n'.join(f'{c}\t{s}' if i % 2 else f'{c} {s}'
                            for i, (c, s) in enumerate(pairs)).encode('utf-8'))
    assert parse_caption_file(path) == pairs
    dataset = _toy_dataset(root)
    assert dataset.get_data_info(0)['query_ids'][0] == pairs[0][0]
    assert check_dataset(str(tmp_path), 'toy', **TOY).ok


def test_caption_file_not_utf8_names_line_and_byte(tmp_path, tiny_toy_root):
    root, _ = _toy_copy(tmp_path, tiny_toy_root)
    path = osp.join(root, 'TextData', 'toytrain.caption.txt')
    with open(path, 'rb') as f:
        lines = f.read().split(b'\n')
    offset = len(lines[0]) + len(lines[1]) + 2 + len(lines[2]) - 1
    lines[2] = lines[2][:-1] + 'é'.encode('latin1')
    with open(path, 'wb') as f:
        f.write(b'\n'.join(lines))
    expected = (f'toytrain.caption.txt:3: byte 0xe9 at column '
                f'{len(lines[2])} (byte {offset} of the file) is not UTF-8')
    with pytest.raises(PRVRDataError) as err:
        _toy_dataset(root)
    assert expected in str(err.value)
    report = check_dataset(str(tmp_path), 'toy', **TOY)
    assert any(expected in p for p in report.problems), report.format()
    assert not any('misses' in p for p in report.problems), report.format()


def test_caption_file_in_utf16_is_named(tmp_path):
    path = str(tmp_path / 'train.txt')
    with open(path, 'w', encoding='utf-16') as f:
        f.write('v1#enc#0 a cat\n')
    with pytest.raises(PRVRDataError, match='train.txt: the file is UTF-16'):
        parse_caption_file(path)


def test_hash_inside_a_video_id_is_refused_with_the_reason(tmp_path):
    path = str(tmp_path / 'train.txt')
    write_captions(path, [('v1#enc#0', 'a'), ('my#video#enc#0', 'b')])
    with pytest.raises(
            PRVRDataError,
            match=r"train.txt:2: caption id 'my#video#enc#0' has '#' in its "
            r"video id 'my#video'"):
        parse_caption_file(path)


# ------------------------------------------------------------------ h5 files
def test_h5_locked_by_another_process_says_so(tmp_path):
    path = str(tmp_path / 'text.hdf5')
    write_h5(path, {'v1#enc#0': np.ones((2, 4))})
    with h5_held_open(path):
        with pytest.raises(
                PRVRDataError,
                match=r'text.hdf5: it is locked by another process .*'
                r'HDF5_USE_FILE_LOCKING=FALSE') as err:
            H5FeatureReader(path).file
        assert 'truncated' not in str(err.value)
    with h5py.File(path, 'r') as f:  # the lock went with the process
        assert list(f) == ['v1#enc#0']
