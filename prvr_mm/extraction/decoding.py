"""Decoding workers of the extraction tools: DataLoader datasets that read
videos through the one reader (:func:`prvr_mm.datasets.video_io.open_video`)
and yield model inputs in chunks -- CLIP frames at the centres of the
student time steps (:class:`FrameChunks`), recognizer clips covering the
video (:class:`ClipChunks`).

A video that cannot be read yields ``dict(vid, error)`` (the message names
the file and the reason) for the tool's skip list.
"""
import math
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..datasets.video_io import open_video
from ..evaluation.moments import uniform_clip_spans

_NO_STEPS = ('no student features for this video (number of time steps '
             'unknown); extract them first or pass --fps')


def segment_spans(duration: float, num: int) -> np.ndarray:
    """``[start, end]`` seconds of the ``num`` uniform clips of
    ``[0, duration]`` (:func:`prvr_mm.evaluation.moments.uniform_clip_spans`,
    the clips of the rankings and the search).

    Returns:
        np.ndarray: (num, 2) float64.
    """
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    return uniform_clip_spans(
        torch.tensor([num]),
        torch.tensor([float(duration)], dtype=torch.float64)).numpy()


def segment_centres(duration: float, num: int) -> np.ndarray:
    """Times (seconds) at the centre of the ``num`` uniform clips of
    ``[0, duration)``: ``(i + 0.5) * duration / num``.

    Returns:
        np.ndarray: (num,) float64.
    """
    return segment_spans(duration, num).mean(1)


def clip_spans(clips: np.ndarray, starts: np.ndarray,
               duration: float) -> np.ndarray:
    """``[start, end]`` seconds of clips of sampled frames: from the first
    frame's time to the end of the last frame's interval (the next sampled
    frame's time, or the end of the video).

    Args:
        clips (np.ndarray): (N, clip_len) sample indices (:func:`
            clip_indices`).
        starts (np.ndarray): (n,) time of every sample (seconds).
        duration (float): the video's duration.

    Returns:
        np.ndarray: (N, 2) float64 spans within ``[0, duration]``.
    """
    edges = np.minimum(
        np.append(np.asarray(starts, np.float64), duration), duration)
    return np.stack([edges[clips.min(1)], edges[clips.max(1) + 1]], 1)


def _error(vid: str, path: str, e: Exception) -> dict:
    msg = str(e)
    if path not in msg:
        msg = f'{path}: {msg}'
    return dict(vid=vid, error=f'{type(e).__name__}: {msg}')


class FrameChunks(IterableDataset):
    """Decoded, preprocessed frames of videos, in chunks.

    Each item is ``dict(vid, chunk, num_chunks, frames, duration, times)``
    with ``frames`` a (n, 3, S, S) tensor (n <= ``chunk_size``), the
    video's real ``duration`` and ``times`` (T, 2) the span of every time
    step (frames are taken at their centres), or ``dict(vid, error)``
    when the video cannot be read (the message names the file and the
    reason).  Workers split the videos between them.

    Args:
        items (list[tuple]): ``(video_id, path, num_steps)``; ``num_steps``
            None means ``round(duration * fps)`` (at least 1).
        transform (callable): PIL image -> (3, S, S) tensor.
        chunk_size (int): frames per item.
        fps (float, optional): frames per second when ``num_steps`` is None.
        frame_fps (float): frame rate of frame folders.
    """

    def __init__(self,
                 items: List[Tuple[str, str, Optional[int]]],
                 transform: Callable,
                 chunk_size: int,
                 fps: Optional[float] = None,
                 frame_fps: float = 3.0) -> None:
        self.items, self.transform = items, transform
        self.chunk_size, self.fps, self.frame_fps = chunk_size, fps, frame_fps

    def __iter__(self):
        info = get_worker_info()
        items = self.items if info is None else \
            self.items[info.id::info.num_workers]
        for vid, path, steps in items:
            yield from self._video(vid, path, steps)

    def _video(self, vid: str, path: str, steps: Optional[int]):
        try:
            with open_video(path, self.frame_fps) as reader:
                duration = reader.info.duration
                if steps is None:
                    if self.fps is None:
                        yield dict(vid=vid, error=_NO_STEPS)
                        return
                    steps = max(1, int(round(duration * self.fps)))
                spans = segment_spans(duration, steps)
                idx = reader.indices_at(spans.mean(1))
                chunks = math.ceil(steps / self.chunk_size)
                for c in range(chunks):
                    part = idx[c * self.chunk_size:(c + 1) * self.chunk_size]
                    images = reader.get_frames(part, as_pil=True)
                    frames = torch.stack([self.transform(im) for im in images])
                    yield dict(
                        vid=vid,
                        chunk=c,
                        num_chunks=chunks,
                        frames=frames,
                        duration=duration,
                        times=spans)
        except Exception as e:  # noqa: BLE001 (reported in the skip list)
            yield _error(vid, path, e)


def clip_indices(num_frames: int, clip_len: int, frame_interval: int,
                 stride: int) -> np.ndarray:
    """Frame indices of every clip, covering the video.

    Returns:
        np.ndarray: (num_clips, clip_len) int64, clipped to the last frame.
    """
    if min(clip_len, frame_interval, stride) < 1:
        raise ValueError('clip_len, frame_interval and stride must be >= 1, '
                         f'got {clip_len}, {frame_interval}, {stride}')
    span = (clip_len - 1) * frame_interval + 1
    num = max(1, math.ceil(max(0, num_frames - span) / stride) + 1)
    starts = np.arange(num) * stride
    idx = starts[:, None] + np.arange(clip_len)[None] * frame_interval
    return np.minimum(idx, num_frames - 1).astype(np.int64)


class ClipChunks(IterableDataset):
    """Preprocessed clips of videos, in chunks of at most ``chunk_size``.

    Items: ``dict(vid, chunk, num_chunks, inputs, data_samples, duration,
    times)`` (``times`` (num_clips, 2): each clip's span in seconds, see
    :func:`clip_spans`) or ``dict(vid, error)``.
    """

    def __init__(self, items: List[tuple], pipeline: Callable, chunk_size: int,
                 clip_len: int, frame_interval: int, stride: int,
                 sample_fps: Optional[float], frame_fps: float) -> None:
        self.items, self.pipeline, self.chunk_size = items, pipeline, \
            chunk_size
        self.clip_len, self.frame_interval = clip_len, frame_interval
        self.stride, self.sample_fps = stride, sample_fps
        self.frame_fps = frame_fps

    def __iter__(self):
        info = get_worker_info()
        items = self.items if info is None else \
            self.items[info.id::info.num_workers]
        for vid, path in items:
            yield from self._video(vid, path)

    def _video(self, vid: str, path: str):
        try:
            with open_video(path, self.frame_fps) as reader:
                duration = reader.info.duration
                if self.sample_fps:
                    n = max(1, int(duration * self.sample_fps))
                    sample_times = np.arange(n) / self.sample_fps
                    native = reader.indices_at(sample_times)
                else:
                    n = reader.info.num_frames
                    native = np.arange(n)
                    sample_times = reader.frame_times
                clips = clip_indices(n, self.clip_len, self.frame_interval,
                                     self.stride)
                spans = clip_spans(clips, sample_times, duration)
                chunks = math.ceil(len(clips) / self.chunk_size)
                for c in range(chunks):
                    part = clips[c * self.chunk_size:(c + 1) * self.chunk_size]
                    wanted = native[part.reshape(-1)]
                    frames = reader.get_frames(wanted)
                    inputs, samples = [], []
                    for k in range(len(part)):
                        imgs = list(frames[k * self.clip_len:(k + 1) *
                                           self.clip_len])
                        h, w = imgs[0].shape[:2]
                        packed = self.pipeline(
                            dict(
                                imgs=imgs,
                                num_clips=1,
                                clip_len=self.clip_len,
                                frame_inds=part[k],
                                total_frames=n,
                                start_index=0,
                                original_shape=(h, w),
                                img_shape=(h, w),
                                modality='RGB',
                                filename=path))
                        inputs.append(packed['inputs'])
                        samples.append(packed['data_samples'])
                    yield dict(
                        vid=vid,
                        chunk=c,
                        num_chunks=chunks,
                        inputs=inputs,
                        data_samples=samples,
                        duration=duration,
                        times=spans)
        except Exception as e:  # noqa: BLE001 (reported in the skip list)
            yield _error(vid, path, e)
