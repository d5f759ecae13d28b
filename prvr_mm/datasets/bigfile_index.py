"""The index of a BigFile folder (``shape.txt``, ``id.txt``,
``video2frames.txt``), read and checked against ``feature.bin`` for
:class:`~prvr_mm.datasets.readers.BigFileReader`: video id -> its rows.
"""
import ast
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Tuple

import numpy as np

from ..errors import PRVRDataError


def read_bigfile_index(
        root: str) -> Tuple[int, int, Dict[str, int], Dict[str, np.ndarray]]:
    """Read and check the index files of the BigFile folder ``root``.

    Args:
        root (str): folder with ``shape.txt`` ("N D"), ``id.txt`` (N
            whitespace separated frame ids, one per row of ``feature.bin``,
            N x D float32) and ``video2frames.txt`` (a dict literal video id
            -> its frame ids in order).

    Returns:
        tuple: ``(N, D, row_of, frames)``: ``row_of`` frame id -> row,
        ``frames`` video id -> (T,) int64 rows of its frames, in order.

    Raises:
        PRVRDataError: a malformed file, ``feature.bin`` of another size
            than ``shape.txt`` says, an id count other than N, an id listed
            twice (two packs merged: a video would be read with another's
            frames), a video listed twice or naming an unknown frame id.
    """
    with open(osp.join(root, 'shape.txt')) as f:
        try:
            num, dim = (int(x) for x in f.read().split())
        except ValueError as e:
            raise PRVRDataError(f'{root}/shape.txt: expected "N D"') from e
    size = osp.getsize(osp.join(root, 'feature.bin'))
    if size != num * dim * 4:
        raise PRVRDataError(
            f'{root}/feature.bin has {size} bytes but shape.txt says '
            f'{num} x {dim} float32 = {num * dim * 4} bytes')
    with open(osp.join(root, 'id.txt')) as f:
        ids = f.read().split()
    if len(ids) != num:
        raise PRVRDataError(f'{root}/id.txt lists {len(ids)} ids, '
                            f'shape.txt says {num}')
    row_of: Dict[str, int] = {k: i for i, k in enumerate(ids)}
    if len(row_of) != len(ids):
        raise PRVRDataError(_repeated_id(root, ids))
    with open(osp.join(root, 'video2frames.txt')) as f:
        v2f = _video2frames(root, f.read())
    frames: Dict[str, np.ndarray] = OrderedDict()
    for vid, frame_ids in v2f.items():
        unknown = [x for x in frame_ids if x not in row_of]
        if unknown:
            raise PRVRDataError(
                f'{root}/video2frames.txt: video {vid!r} names frame id '
                f'{unknown[0]!r} absent from id.txt')
        frames[vid] = np.array([row_of[x] for x in frame_ids], dtype=np.int64)
    return num, dim, row_of, frames


def _repeated_id(root: str, ids: List[str]) -> str:
    """The message of an ``id.txt`` that lists an id more than once."""
    first: Dict[str, int] = {}
    repeated = []
    for i, key in enumerate(ids):
        if key in first:
            repeated.append((key, first[key], i))
        first.setdefault(key, i)
    key, a, b = repeated[0]
    return (f'{root}/id.txt lists {len(repeated)} ids more than once (two '
            f'BigFile packs merged?), e.g. {key!r} at rows {a} and {b} of '
            'feature.bin; each id must name one row, or a video would be '
            'read with the frames of another: rebuild the folder from one '
            'pack (prvr_mm.datasets.layout.write_bigfile)')


def _video2frames(root: str, text: str) -> dict:
    """Parse ``video2frames.txt``; a video id given twice is an error (a
    dict literal would silently keep the last one)."""
    try:
        node = ast.parse(text.strip(), mode='eval').body
        v2f = ast.literal_eval(node)
    except (ValueError, SyntaxError) as e:
        raise PRVRDataError(f'{root}/video2frames.txt is not a '
                            'Python dict literal') from e
    if not isinstance(v2f, dict):
        raise PRVRDataError(
            f'{root}/video2frames.txt holds a {type(v2f).__name__}, '
            'expected a dict literal {video_id: [frame_id, ...]}')
    if len(v2f) != len(node.keys):
        keys = [ast.literal_eval(k) for k in node.keys]
        vid = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise PRVRDataError(
            f'{root}/video2frames.txt lists video {vid!r} twice (two BigFile '
            'packs merged?); expected one entry per video id')
    return v2f
