"""Miniature copies of the MS-SL feature packs (tests, smoke runs).

:func:`make_mini_collection` writes a few random videos and queries in the
exact on-disk layout and with the real feature dimensions of a collection
(TVR 3072-d video / 768-d query, ActivityNet and Charades 1024 / 1024, CLIP
teacher 512), so that the published configs run on it unchanged apart from
``data_root``.  The values are random: it exercises the data path, not the
learning.
"""
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np

from prvr_mm.datasets.layout import (COLLECTIONS, SPLITS, TEACHER_DIM,
                                     collection_paths, teacher_text_key,
                                     write_bigfile, write_captions, write_h5)

WORDS = ('a', 'person', 'opens', 'the', 'door', 'then', 'walks', 'away', 'man',
         'picks', 'up', 'cup', 'woman', 'laughs', 'sits', 'down')


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
    rng = np.random.default_rng(seed)
    paths = collection_paths(root, collection)
    video, teacher_video = OrderedDict(), OrderedDict()
    text, teacher_text = OrderedDict(), OrderedDict()
    for split in SPLITS:
        captions = []
        for v in range(num_videos.get(split, 0)):
            vid = f'{collection}_{split}_v{v:03d}'
            n = int(rng.integers(frames[0], frames[1] + 1))
            video[vid] = rng.standard_normal((n, video_dim))
            nt = int(rng.integers(teacher_frames[0], teacher_frames[1] + 1))
            teacher_video[vid] = rng.standard_normal((nt, teacher_dim))
            for q in range(
                    int(
                        rng.integers(queries_per_video[0],
                                     queries_per_video[1] + 1))):
                cap_id = f'{vid}#enc#{q}'
                length = int(rng.integers(tokens[0], tokens[1] + 1))
                captions.append((cap_id, ' '.join(rng.choice(WORDS, length))))
                text[cap_id] = rng.standard_normal((length, query_dim))
                sent = rng.standard_normal(teacher_dim)
                key = cap_id if teacher_text_style == 'cap_id' else \
                    teacher_text_key(cap_id)
                teacher_text[key] = sent if teacher_text_1d else sent[None]
        write_captions(paths[f'caption_{split}'], captions)
    write_h5(paths['text'], text)
    write_h5(paths['teacher_text'], teacher_text)
    write_h5(paths['teacher_video'], teacher_video)
    if video_format == 'h5':
        paths['video'] = paths['video'] + '.hdf5'
        write_h5(paths['video'], video)
    else:
        write_bigfile(paths['video'], video)
    return paths
