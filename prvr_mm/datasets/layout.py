"""The MS-SL on-disk layout: file names per collection, and its writers.

Every feature pack of MS-SL / DL-DKD (TVR, ActivityNet Captions,
Charades-STA) and every collection written here (toy, miniatures, extracted
features) follows one layout under ``ROOT/<collection>``::

    TextData/<collection>{train,val,test}.caption.txt  <cap_id> <sentence>
    TextData/roberta_<collection>_query_feat.hdf5      cap_id -> (L, Dq)
    TextData/clip_ViT_B_32_<collection>_query_feat.hdf5
                                                  teacher key -> (1, 512)
    TextData/clip_ViT_B_32_<collection>_token_feat.hdf5
                           cap_id -> (L, 512) (CLIP-only configs, optional)
    TextData/<collection>_meta.json      optional durations and timestamps
    FeatureData/<visual_feature>/        BigFile (or <visual_feature>.hdf5)
    FeatureData/new_clip_vit_32_<collection>_vid_features.hdf5
                                                  video id -> (T, 512)

A cap_id is ``<video_id>#enc#<n>``; the CLIP sentence file keys it with
``#`` instead of ``#enc#``.  This module owns those names (the checker, the
dataset, the toy generator and the extraction tools read them here) and the
writers of the layout (:func:`write_bigfile`, :func:`write_h5`,
:func:`write_captions`, :func:`write_meta`).
"""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional, Tuple, Union

import numpy as np

#: Published layout of each MS-SL collection: BigFile folder name and the
#: feature dimensions of the student video (I3D / ResNet+I3D) and query
#: (RoBERTa tokens) features.
COLLECTIONS: Dict[str, dict] = {
    'tvr': dict(visual_feature='i3d_resnet', video_dim=3072, query_dim=768),
    'activitynet': dict(visual_feature='i3d', video_dim=1024, query_dim=1024),
    'charades':
    dict(visual_feature='i3d_rgb_lgi', video_dim=1024, query_dim=1024),
}
#: Feature dimension of the CLIP ViT-B/32 teacher files.
TEACHER_DIM = 512
SPLITS = ('train', 'val', 'test')


def video_id_of(cap_id: str) -> str:
    """Video id of a caption id: the part before the first ``#``."""
    return cap_id.split('#', 1)[0]


def teacher_text_key(cap_id: str) -> str:
    """Key of a caption in the CLIP text h5 (``#enc#`` -> ``#``)."""
    return cap_id.replace('#enc#', '#')


def default_visual_feature(collection: str) -> str:
    """The published BigFile folder name of a known collection.

    Raises:
        ValueError: for a collection that is not in :data:`COLLECTIONS`.
    """
    if collection not in COLLECTIONS:
        raise ValueError(
            f'unknown collection {collection!r}: pass visual_feature '
            f'(known collections: {sorted(COLLECTIONS)})')
    return COLLECTIONS[collection]['visual_feature']


def collection_files(collection: str,
                     visual_feature: Optional[str] = None) -> Dict[str, str]:
    """Paths of every file of a collection, relative to its folder.

    Args:
        collection (str): collection name (``tvr``, ``activitynet``,
            ``charades``, ``toy`` or any name laid out the same way).
        visual_feature (str, optional): BigFile folder (or h5 file) name
            under ``FeatureData``; defaults to the published one.

    Returns:
        dict: ``caption_<split>`` for every split, ``text``, ``video``,
        ``teacher_video``, ``teacher_text``, ``clip_tokens``, ``meta``.
    """
    if visual_feature is None:
        visual_feature = default_visual_feature(collection)
    text, feat = 'TextData', 'FeatureData'
    files = dict(
        text=osp.join(text, f'roberta_{collection}_query_feat.hdf5'),
        video=osp.join(feat, visual_feature),
        teacher_video=osp.join(
            feat, f'new_clip_vit_32_{collection}_vid_features.hdf5'),
        teacher_text=osp.join(text,
                              f'clip_ViT_B_32_{collection}_query_feat.hdf5'),
        # per-token CLIP text features: the query input of the CLIP-only
        # student configs (configs/_base_/datasets/*_clip.py)
        clip_tokens=osp.join(text,
                             f'clip_ViT_B_32_{collection}_token_feat.hdf5'),
        meta=osp.join(text, f'{collection}_meta.json'))
    for split in SPLITS:
        files[f'caption_{split}'] = osp.join(
            text, f'{collection}{split}.caption.txt')
    return files


def collection_paths(root: str,
                     collection: str,
                     visual_feature: Optional[str] = None) -> Dict[str, str]:
    """Paths of every file of a collection under ``root``.

    Args:
        root (str): folder holding the collection folder ``collection``.
        collection (str): collection name.
        visual_feature (str, optional): see :func:`collection_files`.

    Returns:
        dict: ``dir`` (``root/collection``) and every key of
        :func:`collection_files` joined to it.
    """
    base = osp.join(root, collection)
    paths = dict(dir=base)
    for key, rel in collection_files(collection, visual_feature).items():
        paths[key] = osp.join(base, rel)
    return paths


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
