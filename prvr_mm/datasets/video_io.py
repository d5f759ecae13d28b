"""Video decoding for PRVR extraction: exact frames at given times from a
video file (PyAV) or a folder of frames (``<video_id>/*.jpg``).

The decoder is PyAV: its wheels bundle FFmpeg, so ``pip install av`` is all a
user needs (TorchCodec needs the FFmpeg shared libraries of the system;
decord 0.6.0 is unmaintained since 2021; torchvision >= 0.28 dropped its
video reader).

Frame selection is exact: the frame returned for a time ``t`` (seconds from
the first frame) is the one whose presentation interval covers ``t``
(largest pts <= t), never the nearest key frame.  An index of every packet
(pts, key frame) is read once without decoding; each request seeks to the
key frame before its first frame only when that skips work, decodes
forward and converts only the frames asked for.  While decoding towards a
frame, non-reference frames (which nothing else needs) are skipped by the
decoder.

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


class PyAVReader(_Reader):
    """Exact frame access to a video file through PyAV.

    Opening reads the packet index (pts and key-frame flags of every
    packet; no decoding). ``frame_times[i]`` is the time of frame ``i`` in
    presentation order, in seconds from the first frame; a time ``t`` gives
    the frame with the largest time ``<= t``.

    Args:
        path (str): the video file.
        skip_nonref (bool): let the decoder drop non-reference frames that
            are not asked for (exact and faster). Defaults to True.
    """

    def __init__(self, path: str, skip_nonref: bool = True) -> None:
        import av
        self.path = path
        self.skip_nonref = skip_nonref
        self._frames, self._pos, self._passed = None, -1, False
        self._want_pts: set = set()
        if not osp.isfile(path):
            raise VideoDecodeError(f'{path}: video file not found')
        if osp.getsize(path) == 0:
            raise VideoDecodeError(f'{path}: empty file (0 bytes)')
        try:
            self._container = av.open(path)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoDecodeError(
                f'{path}: cannot open the video ({_av_reason(e)})') from e
        try:
            self._build_index()
        except VideoDecodeError:
            self.close()
            raise
        except (av.error.FFmpegError, OSError, ValueError) as e:
            self.close()
            raise VideoDecodeError(
                f'{path}: cannot read the packets ({_av_reason(e)})') from e

    def _build_index(self) -> None:
        container, path = self._container, self.path
        if not container.streams.video:
            raise VideoDecodeError(f'{path}: no video stream')
        stream = self._stream = container.streams.video[0]
        stream.thread_count = 1  # frame-exact skipping; one decoder per proc
        pts, keys = [], []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                pts = None  # no timestamps: decode sequentially
                break
            pts.append(stamp)
            keys.append(packet.is_keyframe)
        if pts is not None and not pts:
            raise VideoDecodeError(f'{path}: the video stream has no frames')
        declared = int(stream.frames or 0)
        found = len(pts) if pts is not None else None
        if found is not None and declared > 0 and found < 0.98 * declared:
            raise VideoDecodeError(
                f'{path}: truncated: the container declares {declared} '
                f'frames but only {found} are in the file')
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        self.time_base = float(stream.time_base) if stream.time_base else 0.0
        if pts is None or not self.time_base:
            # no usable timestamps: one decoding pass gives the frame count
            self._sequential = True
            n = sum(1 for _ in self._decode_all())
            if n == 0:
                raise VideoDecodeError(f'{path}: no frame could be decoded')
            fps = fps or 25.0
            self._pts = np.arange(n, dtype=np.int64)
            self.frame_times = self._pts / fps
        else:
            self._sequential = False
            order = np.argsort(np.asarray(pts), kind='stable')
            self._pts = np.asarray(pts, dtype=np.int64)[order]
            self._keys = np.asarray(keys, dtype=bool)[order]
            if not self._keys.any():
                self._keys[0] = True
            self._pts, first = np.unique(self._pts, return_index=True)
            self._keys = self._keys[first]
            self.frame_times = (self._pts - self._pts[0]) * self.time_base
            if not fps and len(self._pts) > 1:
                fps = (len(self._pts) - 1) / self.frame_times[-1]
            fps = fps or 25.0
        n = len(self._pts)
        cc = stream.codec_context
        self.info = VideoInfo(path, 'video', n, fps,
                              float(self.frame_times[-1]) + 1.0 / fps,
                              int(cc.width or 0), int(cc.height or 0))

    def _decode_all(self):
        """Every frame from the start (no timestamps needed)."""
        import av
        self._container.seek(0)
        try:
            yield from self._container.decode(self._stream)
        except av.error.FFmpegError as e:
            raise VideoDecodeError(
                f'{self.path}: decoding failed ({_av_reason(e)})') from e

    def _convert(self, frame, as_pil: bool):
        return frame.to_image() if as_pil else frame.to_ndarray(format='rgb24')

    def get_frames(self, indices: Sequence[int], as_pil: bool = False):
        idx = _check_indices(indices, self.info.num_frames, self.path)
        if not idx.size:
            return _stack([], as_pil)
        wanted = np.unique(idx)
        if self._sequential:
            got = self._get_sequential(wanted, as_pil)
        else:
            got = self._get_indexed(wanted, as_pil)
        return _stack([got[i] for i in idx.tolist()], as_pil)

    def _get_sequential(self, wanted: np.ndarray, as_pil: bool) -> dict:
        got, todo = {}, set(wanted.tolist())
        for i, frame in enumerate(self._decode_all()):
            if i in todo:
                got[i] = self._convert(frame, as_pil)
                if len(got) == len(todo):
                    break
        self._fill_missing(got, wanted, as_pil)
        return got

    def _fill_missing(self, got: dict, wanted: np.ndarray,
                      as_pil: bool) -> None:
        """Fail on frames the index lists but the decoder never delivered
        (a damaged or truncated file): never substitute another frame."""
        missing = [i for i in wanted.tolist() if i not in got]
        if missing:
            i = missing[0]
            raise VideoDecodeError(
                f'{self.path}: frame {i} of {self.info.num_frames} (t = '
                f'{self.frame_times[i]:.3f} s) could not be decoded '
                f'({len(missing)} of the {len(wanted)} frames asked for); '
                'the file is damaged or truncated')

    def _decode_from(self, start: int):
        """Seek to key frame ``start`` and yield ``(index, frame)`` in
        presentation order; non-reference frames whose pts is not in
        ``self._want_pts`` may be skipped by the decoder."""
        stream, cc = self._stream, self._stream.codec_context
        self._container.seek(
            int(self._pts[start]),
            stream=stream,
            backward=True,
            any_frame=False)
        try:
            for packet in self._container.demux(stream):
                if self.skip_nonref:
                    cc.skip_frame = ('DEFAULT' if packet.pts is None
                                     or packet.pts in self._want_pts else
                                     'NONREF')
                for frame in cc.decode(packet):
                    if frame.pts is not None:
                        yield int(
                            np.searchsorted(self._pts, frame.pts,
                                            'right')) - 1, frame
        finally:
            cc.skip_frame = 'DEFAULT'

    def _drop_position(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames, self._pos = None, -1

    def _get_indexed(self, wanted: np.ndarray, as_pil: bool) -> dict:
        """Decode the frames ``wanted`` (sorted unique indices).

        The decoding position is kept between calls: a request goes on
        decoding forward unless seeking to the key frame before its next
        frame skips work (or that frame was already passed).
        """
        import av
        key_idx = np.flatnonzero(self._keys)
        # key frame at or before each wanted frame
        start_of = key_idx[np.searchsorted(key_idx, wanted, 'right') - 1]
        got: dict = {}
        wset = set(wanted.tolist())
        self._want_pts = {int(self._pts[i]) for i in wset}
        k = 0
        try:
            while k < len(wanted):
                target = int(wanted[k])
                if target <= self._pos and self._frames is not None \
                        and self._passed:
                    # passed without the decoder giving it (skipped as a
                    # non-reference frame): decode again, skipping nothing
                    if not self.skip_nonref:
                        break  # the decoder dropped it: _fill_missing
                    self._drop_position()
                    self.skip_nonref = False
                    try:
                        got.update(self._get_indexed(wanted[k:], as_pil))
                    finally:
                        self.skip_nonref = True
                        self._drop_position()
                    break
                if self._frames is None or start_of[k] > self._pos + 1 \
                        or target <= self._pos:
                    self._drop_position()
                    self._frames = self._decode_from(int(start_of[k]))
                    self._pos = int(start_of[k]) - 1
                self._passed = False
                for i, frame in self._frames:
                    self._pos = max(self._pos, i)
                    if i in wset and i not in got:
                        got[i] = self._convert(frame, as_pil)
                    while k < len(wanted) and int(wanted[k]) in got:
                        k += 1
                    if k >= len(wanted):
                        break
                    if int(wanted[k]) <= self._pos:
                        self._passed = True
                        break
                    if start_of[k] > self._pos + 1:
                        break  # a later key frame: seek there
                else:  # end of stream
                    self._drop_position()
                    break
        except av.error.FFmpegError as e:
            self._drop_position()
            raise VideoDecodeError(
                f'{self.path}: decoding failed near t = '
                f'{self.frame_times[int(wanted[min(k, len(wanted) - 1)])]:.3f}'
                f' s ({_av_reason(e)})') from e
        self._fill_missing(got, wanted, as_pil)
        return got

    def close(self) -> None:
        if getattr(self, '_frames', None) is not None:
            self._drop_position()
        container = getattr(self, '_container', None)
        if container is not None:
            container.close()
            self._container = None


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


__all__ = ['VideoDecodeError', 'VideoInfo', 'open_video', 'PyAVReader']
