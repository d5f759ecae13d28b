"""Writers of the MS-SL layout (:mod:`prvr_mm.datasets.layout`): BigFile
folders, h5 feature files, caption files and meta files, the form every
reader of the package reads back (re-exported by ``layout``)."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Iterable, Mapping, Tuple, Union

import numpy as np


def _parent(path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)


def write_bigfile(
    folder: str, features: Union[Mapping[str, np.ndarray],
                                 Iterable[Tuple[str, np.ndarray]]]
) -> int:
    """Write video features as a BigFile folder, streaming.

    Writes ``feature.bin`` (N x D float32, row-major), ``shape.txt`` (``N
    D``), ``id.txt`` (the N frame ids ``<video_id>_<t>``) and
    ``video2frames.txt`` (a dict literal video id -> its frame ids).  Each
    video's rows go to disk as they come, so ``features`` may be a
    generator over more features than fit in memory.

    Args:
        folder (str): the BigFile folder (created).
        features (Mapping[str, np.ndarray] | Iterable[tuple]): video id ->
            (T, D) features, or ``(video_id, features)`` pairs, written in
            this order.

    Returns:
        int: number of videos written.

    Raises:
        ValueError: two videos with different feature dimensions.
    """
    os.makedirs(folder, exist_ok=True)
    items = features.items() if isinstance(features, Mapping) else features
    ids, video2frames, rows, dim = [], OrderedDict(), 0, None
    with open(osp.join(folder, 'feature.bin'), 'wb') as out:
        for vid, feats in items:
            feats = np.ascontiguousarray(feats, dtype=np.float32)
            if dim is None:
                dim = feats.shape[1]
            elif feats.ndim != 2 or feats.shape[1] != dim:
                raise ValueError(
                    f'{folder}: video {vid!r} has features of shape '
                    f'{feats.shape}, expected (T, {dim}) like the first one')
            frame_ids = [f'{vid}_{t}' for t in range(len(feats))]
            video2frames[vid] = frame_ids
            ids.extend(frame_ids)
            out.write(feats.tobytes())
            rows += len(feats)
    with open(osp.join(folder, 'shape.txt'), 'w') as f:
        f.write(f'{rows} {dim or 0}')
    with open(osp.join(folder, 'id.txt'), 'w') as f:
        f.write(' '.join(ids))
    with open(osp.join(folder, 'video2frames.txt'), 'w') as f:
        f.write(repr(dict(video2frames)))
    return len(video2frames)


def write_h5(path: str,
             features: Mapping[str, np.ndarray],
             mode: str = 'w') -> None:
    """Write features to an h5 file, one float32 dataset per key.

    Args:
        path (str): the h5 file (parent folders are created).
        features (Mapping[str, np.ndarray]): key -> array (``(T, D)``,
            ``(1, D)`` or ``(D,)``), written in this order.
        mode (str): h5py file mode: ``'w'`` (create or truncate) or
            ``'a'`` (add keys to an existing file). Defaults to ``'w'``.
    """
    import h5py
    if mode not in ('w', 'a'):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    _parent(path)
    with h5py.File(path, mode) as f:
        for key, value in features.items():
            if key in f:
                del f[key]
            f[key] = np.asarray(value, dtype=np.float32)


def write_captions(path: str, pairs: Iterable[Tuple[str, str]]) -> None:
    """Write a caption file: one ``<cap_id> <sentence>`` line per pair.

    Args:
        path (str): the caption file (parent folders are created).
        pairs (Iterable[tuple[str, str]]): ``(cap_id, sentence)`` in order.
    """
    _parent(path)
    lines = [f'{cap_id} {sentence}' for cap_id, sentence in pairs]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def write_meta(path: str, durations: Mapping[str, float],
               timestamps: Mapping[str, Tuple[float, float]]) -> None:
    """Write the optional meta file read by ``PRVRFeatureDataset``.

    Args:
        path (str): the JSON file (parent folders are created).
        durations (Mapping[str, float]): video id -> length in seconds.
        timestamps (Mapping[str, tuple]): cap_id -> ``(start, end)`` seconds
            of the moment the caption describes.
    """
    _parent(path)
    meta = dict(
        videos={
            vid: dict(duration=d)
            for vid, d in durations.items()
        },
        queries={
            cap: dict(timestamps=list(t))
            for cap, t in timestamps.items()
        })
    with open(path, 'w') as f:
        json.dump(meta, f)
