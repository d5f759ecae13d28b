"""Exact frames of a video file through PyAV (the reader behind
:func:`prvr_mm.datasets.video_io.open_video`): frame ``i`` is the ``i``-th
frame of a plain sequential decode, found through the packet index where
the container's timestamps can be trusted and by decoding forward where
they cannot (AVI)."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from .video_io import (VideoDecodeError, VideoInfo, _av_reason, _check_indices,
                       _Reader, _stack)


class _Untimed(Exception):
    """The decoder's frame timestamps do not follow the packet index."""


def _timestamps_unreliable(container, pts: list) -> bool:
    """Whether packet timestamps cannot stand for presentation positions.

    AVI stores no presentation time: the demuxer derives one per packet,
    which is off from the decoded frames with (packed) B-frames and N-VOP
    placeholders (STACK.md item 20); two packets with one pts cannot both
    be indexed by it.
    """
    return 'avi' in container.format.name.split(',') or len(
        set(pts)) < len(pts)


class PyAVReader(_Reader):
    """Exact frame access to a video file through PyAV.

    Frame ``i`` is the ``i``-th frame a plain sequential decode of the
    first video stream gives (``container.decode(video=0)``), pixel for
    pixel, as decoded (a rotation tag is reported by :attr:`rotation`,
    not applied: PyAV does not apply it either).

    Where the container has presentation timestamps (mp4, mkv, webm, ...)
    opening reads the packet index (pts and key-frame flags; no decoding),
    ``frame_times[i]`` is the pts of frame ``i`` and requests seek to key
    frames. Where it has none, or they cannot be trusted (AVI; repeated
    pts), opening decodes the stream once to count the frames and
    requests decode forward from the start (the position is kept between
    calls). A decoder that gives a timestamp the index does not list, or
    out of order, moves the reader to the second way.

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
        self._rotation: Optional[int] = None
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
        # a header count one or 2 % over the packets is common (AVI)
        if pts is not None and declared > 0 \
                and len(pts) < declared - max(1.0, 0.02 * declared):
            raise VideoDecodeError(
                f'{path}: truncated: the container declares {declared} '
                f'frames but only {len(pts)} are in the file')
        rate = stream.average_rate or stream.guessed_rate
        self._fps = float(rate) if rate else 0.0
        self.time_base = float(stream.time_base) if stream.time_base else 0.0
        self._sequential = (
            pts is None or not self.time_base
            or _timestamps_unreliable(container, pts))
        if self._sequential:
            times = self._count_frames()
        else:
            order = np.argsort(np.asarray(pts), kind='stable')
            self._pts = np.asarray(pts, dtype=np.int64)[order]
            self._keys = np.asarray(keys, dtype=bool)[order]
            self._keys[0] = True
            times = (self._pts - self._pts[0]) * self.time_base
        self.frame_times = times
        n = len(times)
        fps = self._fps
        if not fps and n > 1 and times[-1] > 0:
            fps = (n - 1) / times[-1]
        fps = fps or 25.0
        cc = stream.codec_context
        self.info = VideoInfo(path, 'video', n, fps,
                              float(times[-1]) + 1.0 / fps, int(cc.width or 0),
                              int(cc.height or 0))

    @property
    def rotation(self) -> int:
        """Display rotation in degrees (counter-clockwise) from the file's
        display matrix, read from the first frame on first use (0 if none);
        frames are returned as decoded, not rotated."""
        if self._rotation is None:
            frames = self._decode_all()
            try:
                frame = next(frames)
            except (StopIteration, VideoDecodeError):
                frame = None
            finally:
                frames.close()
                self._drop_position()
            self._rotation = int(round(getattr(frame, 'rotation', 0) or 0))
        return self._rotation

    def _count_frames(self) -> np.ndarray:
        """Decode every frame once (no conversion): the frame times, from
        the sorted frame timestamps when every frame has its own, else at
        the stream's rate."""
        stamps = [frame.pts for frame in self._decode_all()]
        if not stamps:
            raise VideoDecodeError(f'{self.path}: no frame could be decoded')
        n = len(stamps)
        if self.time_base and None not in stamps and len(set(stamps)) == n:
            ordered = np.sort(np.asarray(stamps, dtype=np.int64))
            return (ordered - ordered[0]) * self.time_base
        return np.arange(n, dtype=np.float64) / (self._fps or 25.0)

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
        got = None
        if not self._sequential:
            try:
                got = self._get_indexed(wanted, as_pil)
            except _Untimed:
                self._to_sequential()
        if got is None:
            got = self._get_sequential(wanted, as_pil)
        return _stack([got[i] for i in idx.tolist()], as_pil)

    def _to_sequential(self) -> None:
        """Frame timestamps broke the index: count the decoded frames and
        go on by position, or fail if the index listed another number."""
        self._drop_position()
        n = len(self._count_frames())
        if n != self.info.num_frames:
            raise VideoDecodeError(
                f'{self.path}: the packet index lists {self.info.num_frames}'
                f' frames but {n} decode, with timestamps out of order; '
                'remux the file (ffmpeg -i IN -c copy OUT.mkv) or re-encode')
        self._sequential = True

    def _get_sequential(self, wanted: np.ndarray, as_pil: bool) -> dict:
        """Decode forward from the current position (from the start when a
        frame asked for was passed)."""
        if self._frames is None or int(wanted[0]) <= self._pos:
            self._drop_position()
            self._frames = self._decode_all()
        got, k = {}, 0
        for frame in self._frames:
            self._pos += 1
            if self._pos == int(wanted[k]):
                got[self._pos] = self._convert(frame, as_pil)
                k += 1
                if k == len(wanted):
                    break
        else:
            self._drop_position()
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
        presentation order from frame ``start`` on (leading frames of an
        open GOP, which need the previous one, are dropped); non-reference
        frames whose pts is not in ``self._want_pts`` may be skipped.

        Raises:
            _Untimed: a frame without a listed pts, or out of order.
        """
        stream, cc = self._stream, self._stream.codec_context
        self._container.seek(
            int(self._pts[start]),
            stream=stream,
            backward=True,
            any_frame=False)
        last = start - 1
        try:
            for packet in self._container.demux(stream):
                if self.skip_nonref:
                    cc.skip_frame = ('DEFAULT' if packet.pts is None
                                     or packet.pts in self._want_pts else
                                     'NONREF')
                for frame in cc.decode(packet):
                    i = (
                        len(self._pts) if frame.pts is None else int(
                            np.searchsorted(self._pts, frame.pts)))
                    if i < start and i < len(self._pts) \
                            and self._pts[i] == frame.pts:
                        continue
                    if i >= len(self._pts) or self._pts[i] != frame.pts \
                            or i <= last:
                        raise _Untimed(frame.pts)
                    last = i
                    yield i, frame
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


__all__ = ['PyAVReader']
