"""Times of feature rows: the real duration of each video and the time
span of every feature row, recorded by the extraction tools beside the
features and read by the search index (exact moments).

The layout is invisible to the MS-SL readers (they read one 2-D array per
video key and nothing else):

- h5 files: two attributes on each video's dataset, ``duration`` (float,
  seconds) and ``times`` ((T, 2) float64, ``[start, end]`` seconds of row
  ``t``, ``0 <= start <= end <= duration``);
- BigFile folders: a sidecar ``times.json`` next to ``feature.bin``,
  ``{"videos": {video_id: {"duration": d, "times": [[s, e], ...]}}}``.

Files without times (older extractions, the MS-SL packs) have none; the
search then falls back to uniform clips (``--meta-file`` durations or
``--clip-seconds``).
"""
import json
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import PRVRDataError

__all__ = [
    'TIMES_SIDECAR', 'check_times', 'h5_time_attrs', 'read_times',
    'write_times_sidecar', 'segment_spans'
]

#: File name of the BigFile sidecar.
TIMES_SIDECAR = 'times.json'
#: Slack (seconds) allowed between a row's end and the duration (rounding).
_EPS = 1e-6

Times = Tuple[float, np.ndarray]


def check_times(duration: float, times: np.ndarray, rows: int, source: str,
                key: str) -> Times:
    """Validate a video's recorded times.

    Args:
        duration (float): seconds.
        times (np.ndarray): (T, 2) row spans.
        rows (int): number of feature rows T of the video.
        source (str): the file (messages).
        key (str): the video id (messages).

    Returns:
        tuple: ``(duration, times (T, 2) float64)``.

    Raises:
        PRVRDataError: wrong shape, or a span outside ``[0, duration]``.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1, 2)
    duration = float(duration)
    if not np.isfinite(duration) or duration <= 0:
        raise PRVRDataError(f'{source}: video {key!r} has duration '
                            f'{duration}, expected > 0 seconds; extract the '
                            'video again')
    if len(times) != rows:
        raise PRVRDataError(
            f'{source}: video {key!r} has {rows} feature rows but times of '
            f'shape {times.shape}, expected ({rows}, 2); the features were '
            'rewritten without their times: extract the video again')
    bad = ~np.isfinite(times).all(1) | (times[:, 0] < -_EPS) | (
        times[:, 1] > duration + _EPS) | (
            times[:, 0] > times[:, 1])
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        raise PRVRDataError(
            f'{source}: video {key!r} row {t} has the span '
            f'{times[t].tolist()}, expected 0 <= start <= end <= duration '
            f'{duration}; extract the video again')
    return duration, np.clip(times, 0.0, duration)


def h5_time_attrs(duration: float, times: np.ndarray) -> Dict[str, object]:
    """The attributes of a video's h5 dataset (see the module doc)."""
    return dict(
        duration=float(duration),
        times=np.asarray(times, dtype=np.float64).reshape(-1, 2))


def write_times_sidecar(folder: str, times: Dict[str, Times]) -> str:
    """Write ``<folder>/times.json`` (video id -> (duration, (T, 2)))."""
    path = osp.join(folder, TIMES_SIDECAR)
    videos = {
        vid:
        dict(
            duration=round(float(d), 6),
            times=np.round(np.asarray(t, np.float64), 6).tolist())
        for vid, (d, t) in times.items()
    }
    with open(path, 'w') as f:
        json.dump(dict(videos=videos), f)
    return path


def read_times(path: str) -> Dict[str, Times]:
    """Recorded times of a feature file or BigFile folder.

    Args:
        path (str): an h5 file or a BigFile folder.

    Returns:
        dict[str, tuple]: video id -> ``(duration, times (T, 2))`` for the
        videos that have times (empty for files without any); not yet
        checked against the rows (:func:`check_times`).
    """
    if osp.isdir(path):
        side = osp.join(path, TIMES_SIDECAR)
        if not osp.isfile(side):
            return {}
        try:
            with open(side) as f:
                videos = json.load(f)['videos']
        except (ValueError, KeyError, TypeError) as e:
            raise PRVRDataError(
                f'{side}: not a times sidecar ({e}); expected {{"videos": '
                '{id: {"duration": s, "times": [[s, e], ...]}}}; delete it '
                'or extract again') from e
        return {
            vid: (v['duration'], np.asarray(v['times'], np.float64))
            for vid, v in videos.items()
        }
    import h5py
    out = {}
    with h5py.File(path, 'r') as f:
        for vid, ds in f.items():
            if 'times' in ds.attrs and 'duration' in ds.attrs:
                out[vid] = (float(ds.attrs['duration']),
                            np.asarray(ds.attrs['times'], np.float64))
    return out


def segment_spans(times: np.ndarray, out_len: Optional[int]) -> np.ndarray:
    """Spans of the rows of ``uniform_feature_sampling`` /
    ``average_to_fixed_length`` applied to rows with spans ``times``: row
    ``i`` covers the rows it averages (the same segment bounds,
    :mod:`prvr_mm.datasets.transforms.functional`).

    Args:
        times (np.ndarray): (T, 2) spans of the input rows.
        out_len (int, optional): rows after resampling (None: T).

    Returns:
        np.ndarray: (out_len, 2) float64 spans.
    """
    from .transforms.functional import segment_bounds
    times = np.asarray(times, np.float64)
    if out_len is None or out_len == len(times):
        return times.copy()
    starts, ends = segment_bounds(len(times), out_len)
    last = np.maximum(ends - 1, starts)
    return np.stack([times[starts, 0], times[last, 1]], 1)
