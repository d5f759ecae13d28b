"""Video decoding for PRVR extraction: exact frames at given times from a
video file (PyAV) or a folder of frames (``<video_id>/*.jpg``).

The decoder is PyAV: its wheels bundle FFmpeg, so ``pip install av`` is all a
user needs (TorchCodec needs the FFmpeg shared libraries of the system;
decord 0.6.0 is unmaintained since 2021; torchvision >= 0.28 dropped its
video reader).

The contract: frame ``i`` of a video file is, pixel for pixel, the
``i``-th frame of a plain sequential decode of its first video stream
(``av.open(path).decode(video=0)``), as decoded: a rotation tag is reported
by ``PyAVReader.rotation``, not applied (sequential PyAV does not apply
it).  How it gets there (:mod:`prvr_mm.datasets.pyav_reader`): where the
container has presentation timestamps (mp4, mov, mkv, webm, ...) an index
of every packet (pts, key frame) is read once without decoding, each
request seeks to the key frame before its first frame only when that skips
work, decodes forward (letting the decoder skip non-reference frames not
asked for) and converts only the frames asked for; every decoded frame's
timestamp is checked against the index.  Where the timestamps cannot be
trusted (AVI: the demuxer derives them, wrong with packed B-frames), the
reader decodes the whole stream once when opened (to count the frames) and
then serves requests decoding forward from the start.  The frame returned
for a time ``t`` (seconds from the first frame) is the one whose
presentation interval covers ``t`` (largest frame time <= t), never the
nearest key frame.

A folder of frames (:mod:`prvr_mm.datasets.frame_folder`) is a video at
``frame_fps`` frames per second: image ``i`` (0-based, sorted by name)
shows time ``i / frame_fps`` and a time ``t`` gives the image nearest to
it, ``round(t * frame_fps)``.  Which files are videos is the layout's rule
(:func:`prvr_mm.datasets.layout.find_videos`).

Every failure (missing, empty, corrupt or unreadable file, no video stream,
no frame) raises :class:`VideoDecodeError` naming the file and the reason.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PRVRDataError


class VideoDecodeError(PRVRDataError):
    """A video (or frame folder) cannot be read; the message names the file
    and the reason."""


@dataclass
class VideoInfo:
    """What :func:`open_video` learnt about a video without decoding it.

    Attributes:
        path (str): the file or frame folder.
        kind (str): ``'video'`` or ``'frames'``.
        num_frames (int): number of frames.
        fps (float): frames per second (average for variable rate video).
        duration (float): seconds, ``last frame time + 1 / fps``.
        width (int): frame width in pixels (0 if unknown before decoding).
        height (int): frame height in pixels (0 if unknown).
    """
    path: str
    kind: str
    num_frames: int
    fps: float
    duration: float
    width: int = 0
    height: int = 0


class _Reader:
    """Common API of :class:`PyAVReader` and :class:`FrameFolderReader`."""

    info: VideoInfo
    #: (num_frames,) float64 presentation time of every frame (seconds)
    frame_times: np.ndarray

    def indices_at(self, times: Sequence[float]) -> np.ndarray:
        """Index of the frame shown at each time (seconds from the first
        frame): the frame whose interval covers it; see the subclasses."""
        times = np.asarray(times, dtype=np.float64)
        idx = np.searchsorted(self.frame_times, times + 1e-9, 'right') - 1
        return np.clip(idx, 0, len(self.frame_times) - 1)

    def get_frames(self, indices: Sequence[int], as_pil: bool = False):
        """Frames by index (any order, repeats allowed).

        Args:
            indices (Sequence[int]): frame indices in ``[0, num_frames)``.
            as_pil (bool): return ``PIL.Image`` (RGB) instead of arrays.

        Returns:
            np.ndarray | list: (N, H, W, 3) uint8 RGB, or N PIL images.
        """
        raise NotImplementedError

    def frames_at(self, times: Sequence[float], as_pil: bool = False):
        """Frames shown at ``times`` (seconds); see :meth:`get_frames`."""
        return self.get_frames(self.indices_at(times), as_pil=as_pil)

    def close(self) -> None:
        """Release the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_indices(indices, n: int, path: str) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f'{path}: frame index {int(idx.min())}..'
                         f'{int(idx.max())} out of range [0, {n})')
    return idx


def _stack(frames: list, as_pil: bool):
    if as_pil:
        return frames
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.stack(frames)


def _av_reason(e: Exception) -> str:
    text = getattr(e, 'strerror', None) or str(e)
    return f'{type(e).__name__}: {text}'


def open_video(path: str, frame_fps: float = 3.0) -> _Reader:
    """A reader for a video file or a frame folder.

    Args:
        path (str): video file (any container FFmpeg reads) or folder of
            images.
        frame_fps (float): frame rate of a frame folder. Defaults to 3
            (TVR's frames).

    Returns:
        PyAVReader | FrameFolderReader: with ``info`` (:class:`VideoInfo`),
        ``frame_times``, ``indices_at(times)``, ``get_frames(indices)`` and
        ``frames_at(times)``.

    Raises:
        VideoDecodeError: missing, empty, corrupt or unreadable input.
    """
    if osp.isdir(path):
        from .frame_folder import FrameFolderReader
        return FrameFolderReader(path, frame_fps)
    return PyAVReader(path)


def __getattr__(name: str):
    # the frame folder reader builds on the base class above (no cycle)
    if name == 'FrameFolderReader':
        from .frame_folder import FrameFolderReader
        return FrameFolderReader
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


# the PyAV reader builds on the base class above (imported last: no cycle)
from .pyav_reader import PyAVReader  # noqa: E402

__all__ = ['VideoDecodeError', 'VideoInfo', 'open_video', 'PyAVReader']
