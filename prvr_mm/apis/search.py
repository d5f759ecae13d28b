"""Rank the videos of a :class:`~prvr_mm.apis.SearchIndex` for query
vectors: top-k videos with per-branch and fused scores, clip curves and
moment hints. Pure functions: a search reads the index and never changes
it.

* exact: :func:`~prvr_mm.evaluation.scoring.max_over_clips` on the flat
  clips with their offsets (equally long videos are contiguous: one GEMM
  per block, no copy), fused by :func:`~prvr_mm.evaluation.scoring.fuse`,
  in ``precision`` (``'auto'``: bf16 products where this device runs them
  faster, :func:`~prvr_mm.utils.hardware.resolve_precision`); in bf16 the
  videos within :data:`BF16_SCORE_TOL` twice of every query's k-th score
  are re-scored in float32 and the best k kept, so a bf16 search returns
  the float32 search's videos and scores;
* approximate: the videos of the best clips of the index's
  :class:`~prvr_mm.apis.ClipANN` are re-scored exactly
  (:func:`~prvr_mm.evaluation.moments.pair_clip_scores`, then ``fuse``),
  always in float32, as are the returned scores and clip curves of the
  top-k videos;
* the moment hint of every result is the best run of clips of the fused
  clip curve (:func:`~prvr_mm.evaluation.moments.best_runs`).

The fusion weights come from the caller (the evaluator's,
:meth:`PRVRMetric.from_config
<prvr_mm.evaluation.PRVRMetric.from_config>`).
"""
from typing import Callable, Dict, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..evaluation.moments import DEFAULT_RUN_RATIO, best_runs, pair_clip_scores
from ..evaluation.scoring import NORM_EPS, fuse, max_over_clips
from ..utils.hardware import resolve_precision
from .search_index import SearchIndex

__all__ = [
    'BF16_SCORE_TOL', 'row_scorer', 'video_scores', 'bf16_shortlist',
    'ann_candidates', 'search_videos'
]

#: bound on |bf16 score - float32 score| of unit vectors: inputs rounded to
#: bf16 (unit roundoff u = 2^-8) move a cosine by at most 2u + u^2, the
#: bf16 result by u more, float32 accumulation by far less than u; the max
#: over clips and a convex fusion keep the bound: 4u leaves room
BF16_SCORE_TOL = 4 * 2.0**-8

Scorer = Callable[[Tensor, Tensor], Tensor]


def row_scorer(clips: Tensor) -> Optional[Scorer]:
    """Inner products of queries with listed rows of ``clips``, read in
    place by faiss (``fvec_inner_products_by_idx``, ~5x faster than
    gathering the rows), or None without faiss (the torch path of
    :func:`pair_clip_scores`).

    Args:
        clips (Tensor): (N, H) contiguous float32 CPU clip embeddings (not
            copied; they must outlive the scorer's calls).

    Returns:
        callable | None: ``score(queries (q, H), rows (q, W)) -> (q, W)``
        float32, ``-inf`` at rows ``-1``.
    """
    try:
        import faiss
    except ImportError:
        return None
    data = clips.numpy()
    if data.dtype != np.float32 or not data.flags['C_CONTIGUOUS']:
        return None
    dim = data.shape[1]

    def score(queries: Tensor, rows: Tensor) -> Tensor:
        query = np.ascontiguousarray(queries.numpy(), dtype=np.float32)
        # row -1 read as row 0 and masked after (not every faiss release
        # skips negative ids)
        labels = np.ascontiguousarray(
            rows.clamp(min=0).numpy(), dtype=np.int64)
        out = np.empty(labels.shape, dtype=np.float32)
        if labels.size:
            faiss.fvec_inner_products_by_idx(
                faiss.swig_ptr(out),
                faiss.swig_ptr(query), faiss.swig_ptr(data),
                faiss.swig_ptr(labels), dim, len(query), labels.shape[1])
        return torch.from_numpy(out).masked_fill(rows < 0, float('-inf'))

    return score


@torch.no_grad()
def video_scores(index: SearchIndex,
                 queries: Mapping[str, Tensor],
                 weights: Mapping[str, float],
                 precision: str = 'auto') -> Dict[str, Tensor]:
    """Exact max-over-clips cosine of every query to every video.

    Args:
        index (SearchIndex): the videos.
        queries (dict[str, Tensor]): per branch (q, H) L2-normalised
            query vectors.
        weights (dict[str, float]): fusion weight of every branch.
        precision (str): precision of the products: ``'auto'`` (default),
            ``'fp32'`` or ``'bf16'`` (float32 results either way).

    Returns:
        dict[str, Tensor]: per branch (q, V) float32 scores and, with
        several branches, ``'fused'``.
    """
    out = {
        name:
        max_over_clips(
            queries[name].float(),
            index.clips[name],
            offsets=index.offsets,
            normalize=False,
            precision=precision)
        for name in index.branches
    }
    if len(index.branches) > 1:
        out['fused'] = fuse(out, weights)
    return out


def bf16_shortlist(scores: Tensor, k: int, scale: float = 1.0) -> Tensor:
    """The videos that can be among a query's float32 top k, from its
    bf16 scores: those within ``2 * scale * BF16_SCORE_TOL`` of its k-th
    best.

    Args:
        scores (Tensor): (q, V) bf16-computed scores of unit vectors (or a
            fusion of them).
        k (int): videos kept per query (``1 <= k <= V``).
        scale (float): the sum of the absolute fusion weights (1 for one
            branch). Defaults to 1.

    Returns:
        Tensor: (q, n) int64 video indices, best first, -1 = empty slot
        (``n >= k``: the longest shortlist).
    """
    kth = torch.topk(scores, k, dim=1).values[:, -1:]
    keep = scores >= kth - 2 * scale * BF16_SCORE_TOL
    num = int(keep.sum(1).max())
    top = torch.topk(scores.masked_fill(~keep, float('-inf')), num, dim=1)
    return top.indices.masked_fill(torch.isinf(top.values), -1)


def ann_candidates(index: SearchIndex, queries: Mapping[str, Tensor], num: int,
                   weights: Mapping[str, float]) -> Tensor:
    """Candidate videos of every query: the videos of the ANN's best
    ``num`` clips.

    Returns:
        Tensor: (q, n) int64 unique video indices (sorted), -1 = empty
        slot.

    Raises:
        ValueError: the index has no ANN.
        SearchIndexError: the ANN was built under other weights.
    """
    if index.ann is None:
        raise ValueError(
            'candidates given but the index has no ANN; build one '
            '(--ann FACTORY) or search exactly (candidates=None)')
    if num < 1:
        raise ValueError(f'candidates must be >= 1, got {num}')
    rows = index.ann.search(queries, num, weights)
    videos = torch.where(rows >= 0, index.clip_to_video[rows.clamp(min=0)], -1)
    videos = videos.sort(dim=1).values
    dup = torch.zeros_like(videos, dtype=torch.bool)
    dup[:, 1:] = videos[:, 1:] == videos[:, :-1]
    return videos.masked_fill(dup, -1)


@torch.no_grad()
def search_videos(index: SearchIndex,
                  queries: Mapping[str, Tensor],
                  weights: Mapping[str, float],
                  top_k: int = 10,
                  candidates: Optional[int] = None,
                  run_ratio: float = DEFAULT_RUN_RATIO,
                  precision: str = 'auto') -> Dict[str, object]:
    """Top-k videos of every query with scores and moment hints.

    Args:
        index (SearchIndex): the videos.
        queries (dict[str, Tensor]): per branch (q, H) query vectors
            (normalised here).
        weights (dict[str, float]): fusion weight of every branch.
        top_k (int): videos per query (at most ``len(index)``).
        candidates (int, optional): with an ANN, re-score exactly the
            videos of the best ``candidates`` clips of every query;
            ``None`` (default) = exact search over all videos.
        run_ratio (float): run ratio of the moment hint (:func:`best_runs`).
        precision (str): precision of the exact search's products over all
            videos: ``'auto'`` (default: bf16 where this device runs it
            faster), ``'fp32'`` or ``'bf16'``. The top-k videos' scores and
            curves (and the ANN re-scoring) are float32 always.

    Returns:
        dict: ``videos`` (q, k) int64 (-1 where fewer candidates than k
        were found), ``scores`` (q, k) fused (or the single branch's),
        ``<branch>_scores`` (q, k), ``curves`` dict per branch and
        ``'fused'`` (q, k, L) clip cosines (``-inf`` beyond a video's
        clips), ``best`` / ``start`` / ``end`` (q, k) clip indices of the
        moment hint.
    """
    if top_k < 1:
        raise ValueError(f'top_k must be >= 1, got {top_k}')
    missing = [b for b in index.branches if b not in queries]
    if missing:
        raise ValueError(f'queries lack branch(es) {missing}')
    query = {
        b: F.normalize(queries[b].float(), dim=-1, eps=NORM_EPS)
        for b in index.branches
    }
    k = min(top_k, len(index))
    # the ANN's candidates and the bf16 shortlist are re-scored in float32
    rescore = candidates is not None
    if candidates is None:
        scores = video_scores(index, query, weights, precision)
        main = scores.get('fused', scores[index.branches[0]])
        if resolve_precision(precision) == 'bf16':
            scale = sum(map(abs, weights.values())) \
                if 'fused' in scores else 1.0
            videos, rescore = bf16_shortlist(main, k, scale), True
        else:
            videos = torch.topk(main, k, dim=1).indices
    else:
        videos = ann_candidates(index, query, candidates, weights)
    curves = {
        b:
        pair_clip_scores(
            query[b],
            index.clips[b],
            index.offsets,
            videos,
            normalized=True,
            scorer=row_scorer(index.clips[b]))
        for b in index.branches
    }
    per_branch = {b: c.amax(-1) for b, c in curves.items()}
    fused = fuse(per_branch, weights)
    if rescore:  # keep the best k
        fused = fused.masked_fill(videos < 0, float('-inf'))
        top = torch.topk(fused, min(k, videos.shape[1]), dim=1)
        pick, fused = top.indices, top.values
        videos = videos.gather(1, pick).masked_fill(torch.isinf(fused), -1)
        per_branch = {b: s.gather(1, pick) for b, s in per_branch.items()}
        curves = {
            b: c.gather(1, pick[..., None].expand(-1, -1, c.shape[-1]))
            for b, c in curves.items()
        }
    main = index.branches[0]
    if len(weights) > 1:
        curves['fused'] = fuse(curves, weights)
        main = 'fused'
    best, start, end = best_runs(curves[main], run_ratio)
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
