"""Exact frame access (PyAV, frame folders) and decode errors."""
import os
import os.path as osp

import numpy as np
import pytest

from prvr_mm.datasets.layout import find_videos
from prvr_mm.datasets.toy_videos import (ToyScene, _background,
                                         write_frame_folder, write_mp4)
from prvr_mm.datasets.video_io import (FrameFolderReader, PyAVReader,
                                       VideoDecodeError, open_video)
from prvr_mm.errors import PRVRDataError
from prvr_mm.extraction.decoding import segment_centres
from tests.helpers.videos import probe, read_frames_at


def _frames(n, size=48, seed=0):
    """Frames whose top-left block encodes their index (exactness check)."""
    rng = np.random.default_rng(seed)
    scene = ToyScene(size, _background(rng, size), (11.0, 4.0), [
        dict(
            colour='red',
            shape='circle',
            direction='left',
            start=0.0,
            end=100.0,
            lane=0.0)
    ])
    out = []
    for i in range(n):
        img = scene.frame(i / 10.0)
        img[:8, :8] = (i * 7) % 256
        out.append(img)
    return out


def _full_decode(path):
    import av
    with av.open(path) as c:
        return [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]


@pytest.mark.parametrize('name,codec,options', [
    ('bframes.mp4', 'libx264', dict(g='12', bf='3', threads='1')),
    ('vp9.webm', 'libvpx-vp9',
     dict(g='9', deadline='realtime', **{'cpu-used': '8'})),
    ('mpeg4.avi', 'mpeg4', dict(bf='2', g='10')),
])
def test_exact_frames_match_sequential_decode(tmp_path, name, codec, options):
    path = str(tmp_path / name)
    write_mp4(path, _frames(60), 10.0, codec, options=options)
    full = _full_decode(path)
    with open_video(path) as reader:
        assert isinstance(reader, PyAVReader)
        info = reader.info
        assert info.num_frames == len(full) == 60
        assert info.fps == pytest.approx(10.0)
        assert info.duration == pytest.approx(6.0)
        assert (info.width, info.height) == (48, 48)
        rng = np.random.default_rng(0)
        # random order with repeats, then chunks in increasing order (the
        # decoding position is reused between calls), then backwards
        requests = [rng.integers(0, 60, 9) for _ in range(3)]
        requests += list(np.array_split(np.arange(2, 60, 4), 4))
        requests += [[59], [30], [0, 0]]
        for idx in requests:
            got = reader.get_frames(idx)
            assert got.shape == (len(idx), 48, 48, 3)
            for i, frame in zip(idx, got):
                np.testing.assert_array_equal(frame, full[i])
        # time -> frame covering it (largest frame time <= t)
        np.testing.assert_array_equal(
            reader.indices_at([0.0, 0.099, 0.1, 2.55, 5.95, 99.0, -1.0]),
            [0, 0, 1, 25, 59, 59, 0])
        pil = reader.frames_at([2.55], as_pil=True)
        np.testing.assert_array_equal(np.asarray(pil[0]), full[25])
    # skipping non-reference frames changes nothing
    with PyAVReader(path, skip_nonref=False) as reader:
        idx = [3, 17, 18, 44]
        for i, frame in zip(idx, reader.get_frames(idx)):
            np.testing.assert_array_equal(frame, full[i])


def test_frame_folder_nearest_frame(tmp_path):
    folder = str(tmp_path / 'v1')
    write_frame_folder(folder, _frames(9))
    reader = open_video(folder, frame_fps=3.0)
    assert isinstance(reader, FrameFolderReader)
    assert reader.info.num_frames == 9
    assert reader.info.duration == pytest.approx(3.0)
    # nearest image at 3 fps: round(t * 3)
    np.testing.assert_array_equal(
        reader.indices_at([0.0, 0.16, 0.17, 1.0, 2.9, 50.0]),
        [0, 0, 1, 3, 8, 8])
    frames = reader.frames_at([1.0, 0.0])
    assert frames.shape == (2, 48, 48, 3)
    # JPEG: close to the source, index block intact
    assert abs(int(frames[0][2, 2, 0]) - (3 * 7) % 256) <= 3
    assert probe(folder).kind == 'frames'


def test_segment_centres_and_listing(tmp_path):
    np.testing.assert_allclose(segment_centres(6.0, 3), [1.0, 3.0, 5.0])
    with pytest.raises(ValueError):
        segment_centres(1.0, 0)
    write_mp4(str(tmp_path / 'b.mp4'), _frames(4), 10.0)
    write_frame_folder(str(tmp_path / 'a'), _frames(2))
    os.makedirs(tmp_path / 'no_images')
    (tmp_path / 'notes.txt').write_text('x')
    videos = find_videos(str(tmp_path))
    assert list(videos) == ['a', 'b']
    assert videos['b'] == str(tmp_path / 'b.mp4')
    # one id, one entry: a clash names both paths, never a silent pick
    (tmp_path / 'b.mkv').write_bytes(b'')
    with pytest.raises(PRVRDataError, match="'b' is given twice") as e:
        find_videos(str(tmp_path))
    assert str(tmp_path / 'b.mkv') in str(e.value)
    assert str(tmp_path / 'b.mp4') in str(e.value)
    os.remove(tmp_path / 'b.mkv')
    write_frame_folder(str(tmp_path / 'b'), _frames(1))
    with pytest.raises(PRVRDataError, match="'b' is given twice"):
        find_videos(str(tmp_path))
    assert list(find_videos(str(tmp_path), ('.mkv', ))) == ['a', 'b']
    with pytest.raises(PRVRDataError, match='video folder not found'):
        find_videos(str(tmp_path / 'missing'))


def test_errors_name_the_file_and_reason(tmp_path):
    good = str(tmp_path / 'good.mp4')
    write_mp4(good, _frames(30), 10.0)
    data = open(good, 'rb').read()
    cases = {
        'empty.mp4': (b'', 'empty file'),
        'truncated.mp4': (data[:len(data) // 3], 'cannot open the video'),
        'text.mp4': (b'this is not a video\n' * 50, 'cannot open'),
    }
    for name, (content, reason) in cases.items():
        path = str(tmp_path / name)
        with open(path, 'wb') as f:
            f.write(content)
        with pytest.raises(VideoDecodeError) as e:
            read_frames_at(path, [0.0])
        assert path in str(e.value) and reason in str(e.value)
    # index at the front (faststart), frames cut off: decoding fails
    fast = str(tmp_path / 'faststart.mp4')
    write_mp4(
        fast,
        _frames(60),
        10.0,
        options=dict(threads='1', g='10'),
        container_options=dict(movflags='+faststart'))
    data = open(fast, 'rb').read()
    with open(fast, 'wb') as f:
        f.write(data[:int(len(data) * 0.6)])
    with pytest.raises(
            VideoDecodeError,
            match='truncated: the container '
            'declares 60 frames but only 3'):
        open_video(fast)
    with pytest.raises(VideoDecodeError, match='video file not found'):
        open_video(str(tmp_path / 'missing.mp4'))
    os.makedirs(tmp_path / 'empty_folder')
    with pytest.raises(VideoDecodeError, match='no frames'):
        open_video(str(tmp_path / 'empty_folder'))
    folder = str(tmp_path / 'bad_jpg')
    write_frame_folder(folder, _frames(2))
    with open(osp.join(folder, '000002.jpg'), 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(VideoDecodeError, match='000002.jpg: cannot read'):
        read_frames_at(folder, [0.0, 0.4])
    with open_video(good) as reader, pytest.raises(IndexError):
        reader.get_frames([30])
