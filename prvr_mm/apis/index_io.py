"""Search index files: write a :class:`~prvr_mm.apis.SearchIndex` to HDF5
and read it back, refusing anything else with a message naming the file and
key.

File format (HDF5, ``format='prvr_mm.search_index'``, ``version=2``)::

    attrs: format, version, branches (JSON list), fingerprint (JSON dict,
           with the fusion_weights the index was built under), created
    video_ids (V,) str      num_clips (V,) int64     durations (V,) float64
    timed (V,) bool         video_paths (V,) str     spans (N, 2) float64
    clips/<branch> (N, H) float16 | float32
    ann (bytes) uint8 with attrs factory, params      (optional)

Version 1 stored a ``fusion_weight`` attribute beside the fingerprint, which
the searcher then overrode; version 2 keeps the weights in the fingerprint
only (a search under other weights is refused). Other versions are refused
with the rebuild command.
"""
import datetime
import json
import os
import os.path as osp

import torch

from ..errors import SearchIndexError
from .ann import ClipANN
from .search_index import SearchIndex

__all__ = ['INDEX_FORMAT', 'INDEX_VERSION', 'save_index', 'load_index']

INDEX_FORMAT = 'prvr_mm.search_index'
INDEX_VERSION = 2

_REBUILD = ('rebuild it with demo/prvr_search.py CONFIG CKPT --index FILE '
            '--build-index COLLECTION')


def save_index(index: SearchIndex, path: str) -> str:
    """Write an index (and its ANN, if any) to an HDF5 file.

    Args:
        index (SearchIndex): the index; its ``source`` becomes ``path``.
        path (str): output file (parent folders are created); written to
            ``path + '.tmp'`` first and renamed, so an interrupted save
            never leaves a half-written index.

    Returns:
        str: ``path``.
    """
    import h5py
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    text = h5py.string_dtype('utf-8')
    with h5py.File(tmp, 'w') as f:
        f.attrs.update(
            format=INDEX_FORMAT,
            version=INDEX_VERSION,
            branches=json.dumps(list(index.branches)),
            fingerprint=json.dumps(index.fingerprint, sort_keys=True),
            created=datetime.datetime.now().isoformat(timespec='seconds'))
        f.create_dataset('video_ids', data=index.video_ids, dtype=text)
        f.create_dataset('video_paths', data=index.video_paths, dtype=text)
        f.create_dataset('num_clips', data=index.num_clips.numpy())
        f.create_dataset('durations', data=index.durations.numpy())
        f.create_dataset('timed', data=index.timed.numpy())
        f.create_dataset('spans', data=index.spans.numpy())
        for name, clips in index.clips.items():
            f.create_dataset(
                f'clips/{name}', data=clips.to(index.storage_dtype).numpy())
        if index.ann is not None:
            ds = f.create_dataset('ann', data=index.ann.to_bytes())
            ds.attrs.update(factory=index.ann.factory, params=index.ann.params)
    os.replace(tmp, path)
    index.source = path
    return path


def load_index(path: str) -> SearchIndex:
    """Read an index written by :func:`save_index`.

    Args:
        path (str): the index file.

    Returns:
        SearchIndex: the index (``source`` = ``path``), with its ANN.

    Raises:
        SearchIndexError: missing file, not an index, another format
            version, missing key or inconsistent shapes (naming the key).
    """
    import h5py
    if not osp.isfile(path):
        raise SearchIndexError(f'search index not found: {path}')
    try:
        f = h5py.File(path, 'r')
    except OSError as e:
        raise SearchIndexError(
            f'{path} is not a search index (not an HDF5 file: {e})')
    with f:
        if f.attrs.get('format') != INDEX_FORMAT:
            raise SearchIndexError(
                f'{path} is not a search index (attribute format='
                f'{f.attrs.get("format")!r}, expected {INDEX_FORMAT!r})')
        version = int(f.attrs.get('version', -1))
        if version != INDEX_VERSION:
            age = 'an older' if version < INDEX_VERSION else 'a newer'
            raise SearchIndexError(
                f'{path}: index format version {version} (written by {age} '
                f'prvr_mm), this prvr_mm reads version {INDEX_VERSION}; '
                f'{_REBUILD}')
        try:
            return _from_h5(f, path)
        except KeyError as e:
            raise SearchIndexError(
                f'{path}: missing key {e.args[0]!r} (format version '
                f'{INDEX_VERSION})') from e


def _from_h5(f, path: str) -> SearchIndex:
    """Build from an open index file (a KeyError names a missing key)."""

    def attr(key):
        if key not in f.attrs:
            raise KeyError(f'attribute {key}')
        return f.attrs[key]

    def read(key):
        if key not in f:
            raise KeyError(key)
        return f[key][()]

    def strings(key):
        return [s.decode() if isinstance(s, bytes) else s for s in read(key)]

    branches = json.loads(attr('branches'))
    fingerprint = json.loads(attr('fingerprint'))
    ann = None
    if 'ann' in f:
        if 'fusion_weights' not in fingerprint:
            raise KeyError('fingerprint.fusion_weights')
        data = f['ann']
        ann = ClipANN.from_bytes(data[()], str(data.attrs['factory']),
                                 str(data.attrs['params']),
                                 fingerprint['fusion_weights'])
    return SearchIndex(
        video_ids=strings('video_ids'),
        num_clips=torch.from_numpy(read('num_clips')),
        clips={b: torch.from_numpy(read(f'clips/{b}'))
               for b in branches},
        spans=torch.from_numpy(read('spans')),
        timed=torch.from_numpy(read('timed')),
        durations=torch.from_numpy(read('durations')),
        fingerprint=fingerprint,
        video_paths=strings('video_paths'),
        ann=ann,
        source=path)
