"""Feature readers of the MS-SL layout: h5 and BigFile (caption files are
parsed by :mod:`prvr_mm.datasets.layout`, re-exported here).

Every reader validates what it returns (shape, dimension, finiteness) and
raises :class:`PRVRDataError` naming the file, the key and the expected
shape.  File handles are opened lazily in each process (DataLoader workers,
``spawn`` or ``fork``) and never pickled.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import PRVRDataError
from .bigfile_index import read_bigfile_index
from .layout import parse_caption_file, scan_caption_file

__all__ = [
    'PRVRDataError', 'parse_caption_file', 'scan_caption_file',
    'check_features', 'H5FeatureReader', 'BigFileReader',
    'resolve_feature_path', 'build_feature_reader'
]


def check_features(feats: np.ndarray,
                   source: str,
                   key: str,
                   dim: Optional[int] = None) -> np.ndarray:
    """Validate a (T, D) feature array; (D,) and (1, ..., D) are reshaped.

    Args:
        feats (np.ndarray): the array read.
        source (str): file it came from (for the message).
        key (str): key it was read under (for the message).
        dim (int, optional): expected last dimension.

    Returns:
        np.ndarray: float32 (T, D) array.
    """
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim == 1:
        feats = feats[None]
    elif feats.ndim > 2:
        feats = feats.reshape(-1, feats.shape[-1])
    expected = f'(T, {dim if dim else "D"}) with T >= 1'
    if feats.shape[0] == 0 or feats.size == 0:
        raise PRVRDataError(f'{source}: key {key!r} has no frames/tokens '
                            f'(shape {feats.shape}), expected {expected}')
    if dim is not None and feats.shape[-1] != dim:
        raise PRVRDataError(f'{source}: key {key!r} has shape {feats.shape}, '
                            f'expected {expected} (feature dimension '
                            'mismatch with the config)')
    if not np.isfinite(feats).all():
        raise PRVRDataError(f'{source}: key {key!r} (shape {feats.shape}) '
                            'contains NaN or inf values')
    return feats


def _plain(dtype: np.dtype) -> bool:
    """Whether an array of ``dtype`` is its raw bytes: a plain number type
    (any byte order), no strings, compounds or references."""
    return dtype.kind in 'biuf' and not dtype.hasobject


class _LazyHandle:
    """Per-process lazily opened handle; dropped when pickled."""

    _handle = None
    _pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_handle'] = None
        state['_pid'] = None
        return state

    def close(self) -> None:
        """Drop this process' handle (it is reopened on the next read).

        Datasets call it after their start-up checks so that DataLoader
        workers never inherit a handle opened by the main process.
        """
        handle, self._handle, self._pid = self._handle, None, None
        if handle is not None and hasattr(handle, 'close'):
            try:
                handle.close()
            except Exception:  # already closed or invalid
                pass


class _FeatureReader(_LazyHandle):
    """What both readers share: the cached, validated :meth:`read`.

    Subclasses implement ``__contains__``, :meth:`_raw` and
    :meth:`_missing`.

    Args:
        path (str): the feature file or folder.
        dim (int, optional): expected feature dimension.
        cache (bool): keep every array read in RAM.
    """

    def __init__(self, path: str, dim: Optional[int], cache: bool) -> None:
        self.path = path
        self.dim = dim
        self.cache: Optional[Dict[str, np.ndarray]] = {} if cache else None

    def __contains__(self, key: str) -> bool:
        raise NotImplementedError

    def _raw(self, key: str) -> Tuple[np.ndarray, str]:
        """The stored array of ``key`` and the file it came from; raises
        ``KeyError`` for a key the file does not hold."""
        raise NotImplementedError

    def _missing(self, key: str) -> str:
        """The error message of a key the file does not hold."""
        raise NotImplementedError

    def read(self, key: str) -> np.ndarray:
        """Read and validate ``key``; returns float32 (T, D).

        Raises:
            PRVRDataError: missing key, no rows, wrong dimension, NaN/inf.
        """
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        try:  # one lookup: the read itself tells a missing key
            raw, source = self._raw(key)
        except KeyError:
            raise PRVRDataError(self._missing(key)) from None
        feats = check_features(raw, source, key, self.dim)
        if self.cache is not None:
            self.cache[key] = feats
        return feats


class H5FeatureReader(_FeatureReader):
    """Features stored in one h5 file: key -> (T, D) (or (D,)) array.

    A dataset stored contiguously (no chunks, hence no filters: how h5py
    writes an array by default, and how the MS-SL packs are stored) is read
    straight from the file at its offset, which HDF5 reports on the first
    read of the key; this process remembers that offset, shape and dtype
    (about 150 bytes a key), so later reads skip HDF5 altogether.  Any
    other layout (chunked, compressed, compact, external storage), a driver
    other than HDF5's POSIX one and a platform without ``os.preadv`` read
    through HDF5.

    Args:
        path (str): the h5 file.
        dim (int, optional): expected feature dimension.
        cache (bool): keep every array read in RAM. Defaults to False.
    """

    def __init__(self,
                 path: str,
                 dim: Optional[int] = None,
                 cache: bool = False) -> None:
        if not osp.isfile(path):
            raise PRVRDataError(f'feature file not found: {path}')
        super().__init__(path, dim, cache)
        self._fd: Optional[int] = None
        self._layouts: Dict[str, Tuple[int, Tuple[int, ...], np.dtype]] = {}

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state['_fd'], state['_layouts'] = None, {}
        return state

    @property
    def file(self):
        """The h5py handle of this process (opened on first use, and again
        if it was closed: the remembered layouts and descriptor go with
        it)."""
        if self._handle is None or self._pid != os.getpid() \
                or not self._handle.id.valid:
            import h5py
            try:
                self._handle = h5py.File(self.path, 'r')
            except OSError as err:
                raise PRVRDataError(_open_error(self.path, err)) from None
            self._pid = os.getpid()
            # direct reads need the plain POSIX driver's file descriptor
            # (and os.preadv, which Windows lacks)
            direct = self._handle.driver == 'sec2' and hasattr(os, 'preadv')
            self._fd = self._handle.id.get_vfd_handle() if direct else None
            self._layouts = {}
        return self._handle

    def keys(self) -> List[str]:
        """All keys of the file."""
        return list(self.file.keys())

    def __contains__(self, key: str) -> bool:
        handle = self.file  # (re)opens in a new process, resets the layouts
        return key in self._layouts or key in handle

    def _raw(self, key: str) -> Tuple[np.ndarray, str]:
        handle = self.file  # (re)opens in a new process, resets the layouts
        layout = self._layouts.get(key)
        if layout is not None:
            offset, shape, dtype = layout
            out = np.empty(shape, dtype=dtype)
            self._read_at(out, offset, key)
            return out, self.path
        # h5py's low-level open: a tenth of a millisecond less per key than
        # ``file[key][()]`` (thousands of query reads per batch)
        import h5py
        try:
            dataset = h5py.h5d.open(handle.id, key.encode())
        except (KeyError, ValueError):
            raise KeyError(key) from None
        out = np.empty(dataset.shape, dtype=dataset.dtype)
        if out.size:
            offset = dataset.get_offset() \
                if self._fd is not None and _plain(out.dtype) else None
            if offset is None:
                dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
            else:
                self._read_at(out, offset, key)
                self._layouts[key] = (offset, out.shape, out.dtype)
        return out, self.path

    def _read_at(self, out: np.ndarray, offset: int, key: str) -> None:
        """Fill ``out`` with the file's bytes from ``offset`` on."""
        view = memoryview(out).cast('B')
        done = 0
        while done < out.nbytes:
            got = os.preadv(self._fd, [view[done:]], offset + done)
            if got <= 0:
                raise PRVRDataError(
                    f'{self.path}: key {key!r} (shape {out.shape}) ends '
                    f'after {done} of its {out.nbytes} bytes: the file is '
                    'truncated; copy it again')
            done += got

    def _missing(self, key: str) -> str:
        return (f'{self.path}: missing key {key!r} (expected an array of '
                f'shape (T, {self.dim or "D"}))')


def _open_error(path: str, err: OSError) -> str:
    """The message of an h5 file HDF5 cannot open: locked by another
    process (HDF5 file locking, errno 11), else truncated or not HDF5."""
    if 'unable to lock file' in str(err) or 'errno = 11' in str(err):
        return (f'cannot open {path}: it is locked by another process '
                f'(HDF5 file locking: {err}); a process that writes it (an '
                'extraction still running?) holds the lock: wait until it '
                'ends, or, to share the file read-only between readers, set '
                'HDF5_USE_FILE_LOCKING=FALSE')
    return (f'cannot open {path}: not a readable HDF5 file ({err}); it is '
            'probably truncated (an interrupted download or copy) or not '
            'HDF5: copy it again')


class BigFileReader(_FeatureReader):
    """The BigFile layout of MS-SL feature packs, read through ``np.memmap``.

    ``root`` holds ``shape.txt`` ("N D"), ``id.txt`` (N whitespace separated
    frame ids), ``feature.bin`` (N x D float32, row-major) and
    ``video2frames.txt`` (a dict literal video id -> ordered frame ids).

    Args:
        root (str): the BigFile folder.
        dim (int, optional): expected feature dimension.
        cache (bool): keep every video read in RAM. Defaults to False.
    """

    def __init__(self,
                 root: str,
                 dim: Optional[int] = None,
                 cache: bool = False) -> None:
        for name in ('shape.txt', 'id.txt', 'feature.bin', 'video2frames.txt'):
            if not osp.isfile(osp.join(root, name)):
                raise PRVRDataError(
                    f'BigFile {root}: missing {name} (expected shape.txt, '
                    'id.txt, feature.bin, video2frames.txt)')
        super().__init__(root, dim, cache)
        self.num, self.feat_dim, self.row_of, self.frames = \
            read_bigfile_index(root)
        if dim is not None and self.feat_dim != dim:
            raise PRVRDataError(
                f'{root}: features are {self.feat_dim}-d (shape.txt), '
                f'expected (T, {dim}) (feature dimension mismatch with '
                'the config)')

    @property
    def matrix(self) -> np.memmap:
        """(N, D) float32 memmap of ``feature.bin`` for this process."""
        if self._handle is None or self._pid != os.getpid():
            self._handle = np.memmap(
                osp.join(self.path, 'feature.bin'),
                dtype=np.float32,
                mode='r',
                shape=(self.num, self.feat_dim))
            self._pid = os.getpid()
        return self._handle

    def keys(self) -> List[str]:
        """All video ids of ``video2frames.txt``."""
        return list(self.frames)

    def __contains__(self, key: str) -> bool:
        return key in self.frames

    def _raw(self, key: str) -> Tuple[np.ndarray, str]:
        """The frames of video ``key`` in order."""
        return self.matrix[self.frames[key]], f'{self.path}/feature.bin'

    def _missing(self, key: str) -> str:
        return (f'{self.path}/video2frames.txt: missing video id {key!r} '
                f'(expected frames of shape (T, {self.feat_dim}))')


H5_SUFFIXES = ('.hdf5', '.h5')


def resolve_feature_path(path: str) -> str:
    """``path`` itself when it exists, else ``path + '.hdf5'`` or
    ``path + '.h5'`` when one of them exists (so a config naming the BigFile
    folder ``FeatureData/i3d`` also accepts ``FeatureData/i3d.hdf5``)."""
    if osp.exists(path):
        return path
    for suffix in H5_SUFFIXES:
        if osp.isfile(path + suffix):
            return path + suffix
    return path


def build_feature_reader(path: str,
                         dim: Optional[int] = None,
                         cache: bool = False):
    """A :class:`BigFileReader` for a folder, else a
    :class:`H5FeatureReader` for an h5 file (see
    :func:`resolve_feature_path` for the ``.hdf5`` / ``.h5`` fallback)."""
    resolved = resolve_feature_path(path)
    if osp.isdir(resolved):
        return BigFileReader(resolved, dim, cache)
    if not osp.isfile(resolved):
        raise PRVRDataError(
            f'feature file not found: {path} (expected a BigFile folder with '
            'shape.txt, id.txt, feature.bin, video2frames.txt, or an h5 '
            f'file {path}, {path}.hdf5 or {path}.h5)')
    return H5FeatureReader(resolved, dim, cache)
