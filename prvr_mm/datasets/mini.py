"""Miniature copies of the MS-SL feature packs (tests, smoke runs).

:func:`make_mini_collection` writes a few random videos and queries in the
exact on-disk layout and with the real feature dimensions of a collection
(TVR 3072-d video / 768-d query, ActivityNet and Charades 1024 / 1024, CLIP
teacher 512), so that the published configs run on it unchanged apart from
``data_root``.  The values are random: it exercises the data path, not the
learning.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np

from .check import COLLECTIONS, SPLITS, TEACHER_DIM, collection_paths

WORDS = ('a', 'person', 'opens', 'the', 'door', 'then', 'walks', 'away',
         'man', 'picks', 'up', 'cup', 'woman', 'laughs', 'sits', 'down')


def make_mini_collection(root: str,
                         collection: str,
                         num_videos: Optional[Dict[str, int]] = None,
                         queries_per_video: Tuple[int, int] = (1, 3),
                         frames: Tuple[int, int] = (6, 14),
                         teacher_frames: Tuple[int, int] = (4, 10),
                         tokens: Tuple[int, int] = (4, 9),
                         video_format: str = 'bigfile',
                         teacher_text_style: str = 'hash',
                         teacher_text_1d: bool = False,
                         video_dim: Optional[int] = None,
                         query_dim: Optional[int] = None,
                         teacher_dim: int = TEACHER_DIM,
                         seed: int = 0) -> Dict[str, str]:
    """Write ``root/collection/{TextData,FeatureData}`` like the MS-SL pack.

    Args:
        root (str): data root (the collection folder is created in it).
        collection (str): ``tvr``, ``activitynet`` or ``charades``.
        num_videos (dict, optional): videos per split. Defaults to
            ``dict(train=6, val=4, test=4)``.
        queries_per_video (tuple): inclusive range of queries per video.
        frames (tuple): inclusive range of student frames per video.
        teacher_frames (tuple): inclusive range of teacher frames per video.
        tokens (tuple): inclusive range of tokens per query.
        video_format (str): ``'bigfile'`` (folder) or ``'h5'`` (one
            ``<visual_feature>.hdf5`` file keyed by video id).
        teacher_text_style (str): key of the CLIP sentence features:
            ``'hash'`` (cap_id with ``#enc#`` -> ``#``) or ``'cap_id'``.
        teacher_text_1d (bool): store CLIP sentences as (512,) instead of
            (1, 512).
        video_dim, query_dim (int, optional): default to the real ones.
        teacher_dim (int): CLIP dim. Defaults to 512.
        seed (int): random seed.

    Returns:
        dict: the paths of :func:`collection_paths` (``video`` points at the
        file or folder actually written).
    """
    layout = COLLECTIONS[collection]
    video_dim = video_dim or layout['video_dim']
    query_dim = query_dim or layout['query_dim']
    num_videos = num_videos or dict(train=6, val=4, test=4)
    if video_format not in ('bigfile', 'h5'):
        raise ValueError('video_format must be bigfile or h5, '
                         f'got {video_format!r}')
    if teacher_text_style not in ('hash', 'cap_id'):
        raise ValueError("teacher_text_style must be 'hash' or 'cap_id'")
    import h5py
    rng = np.random.default_rng(seed)
    paths = collection_paths(root, collection)
    for d in ('TextData', 'FeatureData'):
        os.makedirs(osp.join(paths['dir'], d), exist_ok=True)

    video_feats: Dict[str, np.ndarray] = OrderedDict()
    with h5py.File(paths['text'], 'w') as q_h5, \
            h5py.File(paths['teacher_text'], 'w') as tq_h5, \
            h5py.File(paths['teacher_video'], 'w') as tv_h5:
        for split in SPLITS:
            lines = []
            for v in range(num_videos.get(split, 0)):
                vid = f'{collection}_{split}_v{v:03d}'
                n = int(rng.integers(frames[0], frames[1] + 1))
                video_feats[vid] = rng.standard_normal(
                    (n, video_dim)).astype(np.float32)
                nt = int(rng.integers(teacher_frames[0],
                                      teacher_frames[1] + 1))
                tv_h5[vid] = rng.standard_normal(
                    (nt, teacher_dim)).astype(np.float32)
                for q in range(int(rng.integers(queries_per_video[0],
                                                queries_per_video[1] + 1))):
                    cap_id = f'{vid}#enc#{q}'
                    length = int(rng.integers(tokens[0], tokens[1] + 1))
                    words = rng.choice(WORDS, length)
                    lines.append(f'{cap_id} {" ".join(words)}')
                    q_h5[cap_id] = rng.standard_normal(
                        (length, query_dim)).astype(np.float32)
                    sent = rng.standard_normal(teacher_dim).astype(np.float32)
                    key = cap_id if teacher_text_style == 'cap_id' else \
                        cap_id.replace('#enc#', '#')
                    tq_h5[key] = sent if teacher_text_1d else sent[None]
            with open(paths[f'caption_{split}'], 'w') as f:
                f.write('\n'.join(lines) + '\n')

    if video_format == 'h5':
        paths['video'] = paths['video'] + '.hdf5'
        with h5py.File(paths['video'], 'w') as f:
            for vid, feats in video_feats.items():
                f[vid] = feats
    else:
        write_bigfile(paths['video'], video_feats)
    return paths


def write_bigfile(folder: str, videos: Dict[str, np.ndarray]) -> None:
    """Write ``videos`` (video id -> (T, D) float32) as a BigFile folder:
    ``shape.txt``, ``id.txt``, ``feature.bin``, ``video2frames.txt``."""
    os.makedirs(folder, exist_ok=True)
    ids, rows, v2f = [], [], OrderedDict()
    for vid, feats in videos.items():
        frame_ids = [f'{vid}_{t}' for t in range(len(feats))]
        v2f[vid] = frame_ids
        ids.extend(frame_ids)
        rows.append(np.asarray(feats, dtype=np.float32))
    dim = rows[0].shape[1] if rows else 0
    matrix = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    matrix.astype(np.float32).tofile(osp.join(folder, 'feature.bin'))
    with open(osp.join(folder, 'shape.txt'), 'w') as f:
        f.write(f'{matrix.shape[0]} {dim}')
    with open(osp.join(folder, 'id.txt'), 'w') as f:
        f.write(' '.join(ids))
    with open(osp.join(folder, 'video2frames.txt'), 'w') as f:
        f.write(repr(dict(v2f)))
