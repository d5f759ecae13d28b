"""The reader's contract on the conformance set: frame ``i`` equals, pixel
for pixel, frame ``i`` of a plain sequential PyAV decode, at random and
edge indices, in any request order; a truncated file raises a named
:class:`VideoDecodeError`."""
import numpy as np
import pytest

from prvr_mm.datasets.video_io import VideoDecodeError, open_video
from tests.helpers.conformance import CASES, conformance_videos  # noqa: F401

GOOD = sorted(n for n in CASES if not n.startswith('trunc_'))
TRUNCATED = sorted(n for n in CASES if n.startswith('trunc_'))


def sequential_decode(path: str) -> list:
    """Every frame of a plain sequential decode, (H, W, 3) RGB."""
    import av
    with av.open(path) as c:
        return [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]


def requests(n: int, seed: int = 0) -> list:
    """Random indices with repeats, the edges, forward chunks (position
    reuse), backwards, and every frame."""
    rng = np.random.default_rng(seed)
    out = [rng.integers(0, n, min(n, 9)) for _ in range(3)]
    out += [[0], [n - 1], [n - 1, 0, n // 2], [0, 0]]
    out += list(np.array_split(np.arange(n), min(n, 4)))
    out += [[i] for i in range(n - 1, -1, -max(1, n // 5))]
    out += [np.arange(n)]
    return out


def _path(videos, name):
    path, missing = videos[name]
    if not path:
        pytest.skip(f'the bundled FFmpeg lacks the encoder {missing}')
    return path


@pytest.mark.parametrize('name', GOOD)
def test_frames_equal_sequential_decode(conformance_videos, name):  # noqa
    path = _path(conformance_videos, name)
    full = sequential_decode(path)
    with open_video(path) as reader:
        assert reader.info.num_frames == len(full)
        assert len(reader.frame_times) == len(full)
        assert np.all(np.diff(reader.frame_times) > 0)
        h, w = full[0].shape[:2]
        assert (reader.info.height, reader.info.width) == (h, w)
        compared = 0
        for idx in requests(len(full)):
            got = reader.get_frames(idx)
            assert got.shape == (len(idx), h, w, 3)
            for i, frame in zip(np.asarray(idx).tolist(), got):
                np.testing.assert_array_equal(
                    frame, full[i], err_msg=f'{name}: frame {i}')
                compared += 1
        # a time gives the frame whose interval covers it
        t = reader.frame_times
        np.testing.assert_array_equal(
            reader.indices_at(t + 1e-4), np.arange(len(full)))
        assert compared > len(full)
        if 'rotate90' in name:
            # frames as decoded (not rotated), the tag reported
            assert reader.rotation == 90
        else:
            assert reader.rotation == 0


@pytest.mark.parametrize('name', TRUNCATED)
def test_truncated_file_named_error(conformance_videos, name):  # noqa
    path = _path(conformance_videos, name)
    with pytest.raises(VideoDecodeError, match='truncated') as e:
        with open_video(path) as reader:
            reader.get_frames(np.arange(reader.info.num_frames))
    assert path in str(e.value)


def test_packed_bframes_need_the_sequential_path(conformance_videos):  # noqa
    """The packed file really has what tripped the packet-index reader:
    packet timestamps that are not the decoded frames' order."""
    import av
    path = _path(conformance_videos, 'mpeg4_packed_bframes_mp3.avi')
    with av.open(path) as c:
        assert c.streams[0].type == 'video' and len(c.streams) == 2
        stamps = [f.pts for f in c.decode(video=0)]
    assert stamps != sorted(stamps)
