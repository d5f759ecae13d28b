"""A searchable video collection: per-branch clip embeddings of every video,
saved once, loaded without re-encoding, ranked by max-over-clips score.

:class:`SearchIndex` holds, for every video, its clip embeddings in every
student branch (L2-normalised, stored float16 by default), the time span of
every clip, an optional path to the raw video, and the fingerprint of the
model that encoded it (a search with another model is refused). Ranking is
exact (one GEMM per group of equally long videos, max over clips, fused
``w * inher + (1 - w) * explore``) or, with a faiss :class:`ClipANN`,
approximate candidate generation followed by exact re-scoring. The moment
hint of every result is the best run of clips of the fused clip curve
(:func:`prvr_mm.evaluation.moments.best_runs`).

File format (HDF5, ``format='prvr_mm.search_index'``, ``version=1``)::

    attrs: format, version, branches (JSON list), fusion_weight,
           fingerprint (JSON dict), created
    video_ids (V,) str      num_clips (V,) int64     durations (V,) float64
    timed (V,) bool         video_paths (V,) str     spans (N, 2) float64
    clips/<branch> (N, H) float16 | float32
    ann (bytes) uint8 with attrs factory, params      (optional)

Videos are stored in ascending order of clip count (stable), so equally long
videos are contiguous.
"""
import datetime
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SearchIndexError
from ..evaluation.moments import DEFAULT_RUN_RATIO, best_runs, pair_clip_scores
from ..evaluation.scoring import NORM_EPS, fuse, fusion_weights, max_over_clips
from .ann import ClipANN

__all__ = ['SearchIndex', 'SearchIndexError', 'INDEX_FORMAT', 'INDEX_VERSION']

INDEX_FORMAT = 'prvr_mm.search_index'
INDEX_VERSION = 1


class _Storage:
    """Exposes the vectors of a faiss flat index as an array and keeps the
    index alive as long as any array / tensor viewing them exists."""

    def __init__(self, flat, shape: Tuple[int, int]) -> None:
        import faiss
        self.flat = flat
        raw = faiss.rev_swig_ptr(flat.get_xb(), shape[0] * shape[1])
        self.__array_interface__ = dict(
            shape=shape,
            typestr='<f4',
            version=3,
            data=(raw.__array_interface__['data'][0], False))


def _faiss_view(flat, shape: Tuple[int, int]) -> Tensor:
    """(N, H) float32 tensor on the storage of a faiss flat index (no
    copy; the tensor keeps the index alive)."""
    return torch.from_numpy(np.asarray(_Storage(flat, shape)))


class SearchIndex:
    """Clip embeddings of a video collection, ready to search.

    Build it with :meth:`from_videos` (or
    :meth:`PRVRInferencer.index <prvr_mm.apis.PRVRInferencer.index>`), save
    it with :meth:`save`, load it with :meth:`load`.

    Args:
        video_ids (list[str]): (V) ids, in ascending clip-count order.
        num_clips (Tensor): (V,) clips per video (>= 1).
        clips (dict[str, Tensor]): per branch (N, H) L2-normalised clip
            embeddings, video after video.
        spans (Tensor): (N, 2) start / end of every clip (seconds where
            ``timed``, else clip units).
        timed (Tensor): (V,) bool, spans in seconds.
        durations (Tensor): (V,) seconds, NaN = unknown.
        fusion_weight (float): ``w`` of the fused score.
        fingerprint (dict): identity of the model that built the index
            (``weights`` and ``pipeline`` hashes, ``config``,
            ``checkpoint``).
        video_paths (list[str], optional): raw file per video, ``''`` =
            none.
        ann (ClipANN, optional): approximate candidate index.
    """

    def __init__(self,
                 video_ids: List[str],
                 num_clips: Tensor,
                 clips: Mapping[str, Tensor],
                 spans: Tensor,
                 timed: Tensor,
                 durations: Tensor,
                 fusion_weight: float,
                 fingerprint: Mapping[str, str],
                 video_paths: Optional[List[str]] = None,
                 ann: Optional[ClipANN] = None,
                 source: str = '<memory>') -> None:
        self.source = source
        self.video_ids = list(video_ids)
        self.num_clips = num_clips.to(torch.long)
        dtypes = {c.dtype for c in clips.values()}
        if not dtypes <= {torch.float16, torch.float32}:
            raise SearchIndexError(
                f'search index {source}: clips must be float16 or float32, '
                f'got {sorted(map(str, dtypes))}')
        # stored (on disk) as given; searched in float32 (CPU GEMMs in half
        # precision are slow)
        self.storage_dtype = torch.float16 if torch.float16 in dtypes \
            else torch.float32
        self.clips = {b: c.float() for b, c in clips.items()}
        self.branches = tuple(self.clips)
        self.spans = spans.to(torch.float64)
        self.timed = timed.to(torch.bool)
        self.durations = durations.to(torch.float64)
        self.fusion_weight = float(fusion_weight)
        self.fingerprint = dict(fingerprint)
        self.video_paths = list(video_paths or [''] * len(self.video_ids))
        self.ann = ann
        self._validate()
        self.offsets = torch.cat([
            torch.zeros(1, dtype=torch.long),
            torch.cumsum(self.num_clips, 0)
        ])
        self.clip_to_video = torch.repeat_interleave(
            torch.arange(len(self.video_ids)), self.num_clips)
        self._flat: Dict[str, object] = {}

    # ------------------------------------------------------------ building
    @classmethod
    def from_videos(cls,
                    videos: Sequence[dict],
                    fusion_weight: float,
                    fingerprint: Mapping[str, str],
                    dtype: torch.dtype = torch.float16) -> 'SearchIndex':
        """Assemble an index from encoded videos.

        Args:
            videos (list[dict]): per video ``video_id``, ``clips`` (dict
                branch -> (T, H)), ``spans`` (T, 2), ``timed`` (bool),
                ``duration`` (float or None), ``video_path`` (str or None).
            fusion_weight (float): ``w``.
            fingerprint (dict): see the class docstring.
            dtype (torch.dtype): storage dtype of the embeddings (float16
                or float32). Defaults to float16.

        Returns:
            SearchIndex: videos sorted by clip count (stable).
        """
        if not videos:
            raise SearchIndexError('cannot build an index of 0 videos')
        if dtype not in (torch.float16, torch.float32):
            raise ValueError(f'dtype must be float16 or float32, got {dtype}')
        order = sorted(
            range(len(videos)), key=lambda i: len(videos[i]['spans']))
        videos = [videos[i] for i in order]
        branches = list(videos[0]['clips'])
        clips = {
            b:
            F.normalize(
                torch.cat([v['clips'][b].float() for v in videos]),
                dim=-1,
                eps=NORM_EPS).to(dtype)
            for b in branches
        }
        durations = torch.tensor([
            float('nan') if v.get('duration') is None else v['duration']
            for v in videos
        ],
                                 dtype=torch.float64)
        return cls(
            video_ids=[v['video_id'] for v in videos],
            num_clips=torch.tensor([len(v['spans']) for v in videos]),
            clips=clips,
            spans=torch.cat([
                torch.as_tensor(v['spans'], dtype=torch.float64)
                for v in videos
            ]),
            timed=torch.tensor([bool(v['timed']) for v in videos]),
            durations=durations,
            fusion_weight=fusion_weight,
            fingerprint=fingerprint,
            video_paths=[v.get('video_path') or '' for v in videos])

    def _validate(self) -> None:
        num_v, num_c = len(self.video_ids), int(self.num_clips.sum())
        where = f'search index {self.source}'
        if num_v == 0:
            raise SearchIndexError(f'{where}: holds no video')
        if len(set(self.video_ids)) != num_v:
            raise SearchIndexError(f'{where}: duplicate video ids')
        if tuple(self.num_clips.shape) != (num_v, ):
            raise SearchIndexError(
                f'{where}: num_clips has shape {tuple(self.num_clips.shape)}'
                f', expected ({num_v},)')
        if bool((self.num_clips < 1).any()):
            raise SearchIndexError(f'{where}: a video has no clip')
        if bool((self.num_clips[1:] < self.num_clips[:-1]).any()):
            raise SearchIndexError(
                f'{where}: videos are not in ascending clip-count order')
        if not 1 <= len(self.branches) <= 2:
            raise SearchIndexError(
                f'{where}: expected 1 or 2 branches, got {self.branches}')
        dims = set()
        for name, clips in self.clips.items():
            if clips.dim() != 2 or clips.shape[0] != num_c:
                raise SearchIndexError(
                    f'{where}: clips/{name} has shape {tuple(clips.shape)}, '
                    f'expected ({num_c}, H)')
            dims.add(clips.shape[1])
        if len(dims) != 1:
            raise SearchIndexError(f'{where}: branches differ in width')
        checks = (('spans', self.spans, (num_c, 2)), ('timed', self.timed,
                                                      (num_v, )),
                  ('durations', self.durations, (num_v, )))
        for key, value, shape in checks:
            if tuple(value.shape) != shape:
                raise SearchIndexError(
                    f'{where}: {key} has shape {tuple(value.shape)}, '
                    f'expected {shape}')
        if len(self.video_paths) != num_v:
            raise SearchIndexError(f'{where}: video_paths has '
                                   f'{len(self.video_paths)} entries, '
                                   f'expected {num_v}')

    # ------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def total_clips(self) -> int:
        """Number of clips of all videos (N)."""
        return int(self.offsets[-1])

    @property
    def weights(self) -> Dict[str, float]:
        """Fusion weight of every branch."""
        return fusion_weights(self.branches, self.fusion_weight)

    def __repr__(self) -> str:
        ann = f', ann={self.ann.factory!r}' if self.ann is not None else ''
        return (f'SearchIndex({len(self)} videos, {self.total_clips} clips, '
                f'branches={self.branches}{ann}, source={self.source!r})')

    def check_fingerprint(self, fingerprint: Mapping[str, str]) -> None:
        """Refuse an index built by another model or pipeline.

        Args:
            fingerprint (dict): the fingerprint of the searching model.

        Raises:
            SearchIndexError: naming what differs, how the index was built
                and how to rebuild it.
        """
        for key in ('weights', 'pipeline', 'branches'):
            mine, theirs = self.fingerprint.get(key), fingerprint.get(key)
            if mine != theirs:
                raise SearchIndexError(
                    f'search index {self.source} was built by another model '
                    f'({key} differ: index {mine!r}, model {theirs!r}); the '
                    f'index was built with config '
                    f'{self.fingerprint.get("config")!r} and checkpoint '
                    f'{self.fingerprint.get("checkpoint")!r}. Rebuild it '
                    'with this model (PRVRInferencer.index / demo/'
                    'prvr_search.py --build-index).')

    # -------------------------------------------------------------- io
    def save(self, path: str) -> str:
        """Write the index (and its ANN, if built) to an HDF5 file.

        Args:
            path (str): output file (parent folders are created); written
                to ``path + '.tmp'`` first and renamed, so an interrupted
                save never leaves a half-written index.

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
                branches=json.dumps(list(self.branches)),
                fusion_weight=self.fusion_weight,
                fingerprint=json.dumps(self.fingerprint, sort_keys=True),
                created=datetime.datetime.now().isoformat(timespec='seconds'))
            f.create_dataset('video_ids', data=self.video_ids, dtype=text)
            f.create_dataset('video_paths', data=self.video_paths, dtype=text)
            f.create_dataset('num_clips', data=self.num_clips.numpy())
            f.create_dataset('durations', data=self.durations.numpy())
            f.create_dataset('timed', data=self.timed.numpy())
            f.create_dataset('spans', data=self.spans.numpy())
            for name, clips in self.clips.items():
                f.create_dataset(
                    f'clips/{name}', data=clips.to(self.storage_dtype).numpy())
            if self.ann is not None:
                ds = f.create_dataset('ann', data=self.ann.to_bytes())
                ds.attrs.update(
                    factory=self.ann.factory, params=self.ann.params)
        os.replace(tmp, path)
        self.source = path
        return path

    @classmethod
    def load(cls, path: str) -> 'SearchIndex':
        """Read an index written by :meth:`save`.

        Raises:
            SearchIndexError: missing file, not an index, unknown version,
                missing key or inconsistent shapes (naming the key).
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
                raise SearchIndexError(
                    f'{path}: index format version {version}, this prvr_mm '
                    f'reads version {INDEX_VERSION}; rebuild the index')
            try:
                index = cls._from_h5(f, path)
            except KeyError as e:
                raise SearchIndexError(
                    f'{path}: missing key {e.args[0]!r} (format version '
                    f'{INDEX_VERSION})') from e
        return index

    @classmethod
    def _from_h5(cls, f, path: str) -> 'SearchIndex':
        """Build from an open index file (KeyError names a missing key)."""

        def attr(key):
            if key not in f.attrs:
                raise KeyError(f'attribute {key}')
            return f.attrs[key]

        def read(key):
            if key not in f:
                raise KeyError(key)
            return f[key][()]

        def strings(key):
            return [
                s.decode() if isinstance(s, bytes) else s for s in read(key)
            ]

        branches = json.loads(attr('branches'))
        index = cls(
            video_ids=strings('video_ids'),
            num_clips=torch.from_numpy(read('num_clips')),
            clips={b: torch.from_numpy(read(f'clips/{b}'))
                   for b in branches},
            spans=torch.from_numpy(read('spans')),
            timed=torch.from_numpy(read('timed')),
            durations=torch.from_numpy(read('durations')),
            fusion_weight=float(attr('fusion_weight')),
            fingerprint=json.loads(attr('fingerprint')),
            video_paths=strings('video_paths'),
            source=path)
        if 'ann' in f:
            data = f['ann']
            index.ann = ClipANN.from_bytes(data[()],
                                           str(data.attrs['factory']),
                                           str(data.attrs['params']),
                                           index.weights)
        return index

    # ------------------------------------------------------------- search
    def build_ann(self,
                  factory: str,
                  params: str = '',
                  train_size: int = 100_000) -> ClipANN:
        """Build (or replace) the approximate candidate index.

        Args:
            factory (str): faiss ``index_factory`` string.
            params (str): faiss search parameters (``'nprobe=32'``).
            train_size (int): clips sampled for training.

        Returns:
            ClipANN: the built index (also ``self.ann``).
        """
        self.ann = ClipANN(factory, params,
                           self.weights).build(self.clips, train_size)
        return self.ann

    def _scorer(self, name: str) -> Optional[Callable]:
        """faiss' ``compute_distance_subset`` over a branch's clips (reads
        the listed rows in place, ~5x faster than gathering them), or None
        without faiss. The branch's clips then live in the faiss index
        (``self.clips[name]`` becomes a view of its storage, no copy)."""
        if name not in self._flat:
            try:
                import faiss
            except ImportError:  # the torch path of pair_clip_scores
                self._flat[name] = None
                return None
            clips = self.clips[name]
            flat = faiss.IndexFlatIP(clips.shape[1])
            flat.add(np.ascontiguousarray(clips.numpy()))
            self.clips[name] = _faiss_view(flat, tuple(clips.shape))
            self._flat[name] = flat
        flat = self._flat[name]
        if flat is None:
            return None

        def score(queries: Tensor, rows: Tensor) -> Tensor:
            import faiss
            query = np.ascontiguousarray(queries.numpy(), dtype=np.float32)
            labels = np.ascontiguousarray(rows.numpy(), dtype=np.int64)
            out = np.empty(labels.shape, dtype=np.float32)
            if labels.size:
                flat.compute_distance_subset(
                    len(query), faiss.swig_ptr(query), labels.shape[1],
                    faiss.swig_ptr(out), faiss.swig_ptr(labels))
            return torch.from_numpy(out)

        return score

    def _groups(self) -> List[Tuple[int, int, int]]:
        """``(first video, end video, clips per video)`` of runs of videos
        with the same clip count."""
        counts, lengths = torch.unique_consecutive(
            self.num_clips, return_counts=True)
        ends = torch.cumsum(lengths, 0).tolist()
        starts = [0] + ends[:-1]
        return list(zip(starts, ends, counts.tolist()))

    @torch.no_grad()
    def video_scores(self, queries: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Exact max-over-clips cosine of every query to every video.

        :func:`~prvr_mm.evaluation.scoring.max_over_clips` on the flat
        clips (equally long videos are contiguous: one GEMM per block, no
        copy).

        Args:
            queries (dict[str, Tensor]): per branch (q, H) L2-normalised
                query vectors.

        Returns:
            dict[str, Tensor]: per branch (q, V) float32 scores and, with
            two branches, ``'fused'``.
        """
        out = {
            name:
            max_over_clips(
                queries[name].float(),
                self.clips[name],
                offsets=self.offsets,
                normalize=False)
            for name in self.branches
        }
        if len(self.branches) > 1:
            out['fused'] = fuse(out, self.weights)
        return out

    def _candidates(self, queries: Mapping[str, Tensor], num: int) -> Tensor:
        """(q, n) unique candidate videos of the ANN's best clips, -1 =
        empty slot."""
        rows = self.ann.search(queries, num)
        videos = torch.where(rows >= 0, self.clip_to_video[rows.clamp(min=0)],
                             -1)
        videos = videos.sort(dim=1).values
        dup = torch.zeros_like(videos, dtype=torch.bool)
        dup[:, 1:] = videos[:, 1:] == videos[:, :-1]
        return videos.masked_fill(dup, -1)

    @torch.no_grad()
    def search(self,
               queries: Mapping[str, Tensor],
               top_k: int = 10,
               candidates: Optional[int] = None,
               run_ratio: float = DEFAULT_RUN_RATIO) -> Dict[str, Tensor]:
        """Top-k videos of every query with scores and moment hints.

        Args:
            queries (dict[str, Tensor]): per branch (q, H) query vectors
                (normalised here).
            top_k (int): videos per query (at most ``len(self)``).
            candidates (int, optional): with an ANN, re-score exactly the
                videos of the best ``candidates`` clips of every query;
                ``None`` (default) = exact search over all videos.
            run_ratio (float): run ratio of the moment hint
                (:func:`best_runs`).

        Returns:
            dict[str, Tensor]: ``videos`` (q, k) int64 (-1 where fewer
            candidates than k were found), ``scores`` (q, k) fused (or the
            single branch's), ``<branch>_scores`` (q, k), ``curves`` dict
            per branch and ``'fused'`` (q, k, L) clip cosines (``-inf``
            beyond a video's clips), ``best`` / ``start`` / ``end`` (q, k)
            clip indices of the moment hint.
        """
        if top_k < 1:
            raise ValueError(f'top_k must be >= 1, got {top_k}')
        missing = [b for b in self.branches if b not in queries]
        if missing:
            raise ValueError(f'queries lack branch(es) {missing}')
        query = {
            b: F.normalize(queries[b].float(), dim=-1, eps=NORM_EPS)
            for b in self.branches
        }
        k = min(top_k, len(self))
        weights = self.weights
        if candidates is None:
            scores = self.video_scores(query)
            main = scores.get('fused', scores[self.branches[0]])
            videos = torch.topk(main, k, dim=1).indices
        else:
            if self.ann is None:
                raise ValueError(
                    'candidates given but the index has no ANN; build one '
                    'with build_ann() or search exactly (candidates=None)')
            if candidates < 1:
                raise ValueError(f'candidates must be >= 1, got {candidates}')
            videos = self._candidates(query, candidates)
        curves = {
            b:
            pair_clip_scores(
                query[b],
                self.clips[b],
                self.offsets,
                videos,
                normalized=True,
                scorer=self._scorer(b))
            for b in self.branches
        }
        per_branch = {b: c.amax(-1) for b, c in curves.items()}
        fused = fuse(per_branch, weights)
        if candidates is not None:  # re-score, keep the best k
            fused = fused.masked_fill(videos < 0, float('-inf'))
            kk = min(k, videos.shape[1])
            top = torch.topk(fused, kk, dim=1)
            pick = top.indices
            videos = videos.gather(1, pick)
            fused = top.values
            per_branch = {b: s.gather(1, pick) for b, s in per_branch.items()}
            curves = {
                b: c.gather(1, pick[..., None].expand(-1, -1, c.shape[-1]))
                for b, c in curves.items()
            }
            videos = videos.masked_fill(torch.isinf(fused), -1)
        if len(weights) > 1:
            curves['fused'] = fuse(curves, weights)
        best, start, end = best_runs(
            curves['fused' if len(weights) > 1 else self.branches[0]],
            run_ratio)
        out = dict(
            videos=videos,
            scores=fused,
            best=best,
            start=start,
            end=end,
            curves=curves)
        for b, s in per_branch.items():
            out[f'{b}_scores'] = s
        return out

    def moment_span(self, video: int, start: int, end: int) -> List[float]:
        """``[start of clip start, end of clip end]`` of a video."""
        base = int(self.offsets[video])
        return [
            float(self.spans[base + start, 0]),
            float(self.spans[base + end, 1])
        ]

    def clip_spans(self, video: int) -> Tensor:
        """(T, 2) spans of every clip of a video."""
        return self.spans[int(self.offsets[video]):int(self.offsets[video +
                                                                    1])]
