"""Per-query top-k rankings with moment hints, dumped as JSON.

Clip ``i`` of ``T`` clips is taken to cover ``[i / T, (i + 1) / T]`` of the
video (uniform clips, :func:`~prvr_mm.evaluation.moments.uniform_clip_spans`).

:func:`write_rankings` is called by :class:`PRVRMetric` (rank 0 only) when
``dump_rankings`` is set. The file format is documented in
``docs/rankings.md``. Everything is chunked over queries and clip-level
scores are computed only for the top-k videos (and the ground truth) of
every query (never a ``(Q, V, L)`` tensor).
"""
import json
import os
import os.path as osp
from typing import List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from ..errors import PRVRConfigError
from .functional import gt_ranks
from .moments import pair_clip_scores, uniform_clip_spans
from .scoring import NORM_EPS, fuse

__all__ = [
    'RANKINGS_VERSION', 'clip_span', 'clip_edges', 'best_clips',
    'write_rankings'
]

RANKINGS_VERSION = 1


def clip_edges(num_clips: int,
               duration: Optional[float] = None) -> Tuple[np.ndarray, str]:
    """Boundaries of ``num_clips`` uniform clips
    (:func:`~prvr_mm.evaluation.moments.uniform_clip_spans`, the one rule).

    Args:
        num_clips (int): number of clips ``T >= 1``.
        duration (float, optional): video length in seconds.

    Returns:
        tuple[np.ndarray, str]: (T + 1,) float64 edges and ``'s'`` when the
        duration is known, else ``0..T`` and ``'clip'``.
    """
    spans = uniform_clip_spans(
        torch.tensor([num_clips]),
        torch.tensor([float('nan') if duration is None else duration],
                     dtype=torch.float64)).numpy()
    edges = np.append(spans[:, 0], spans[-1:, 1])
    return edges, 'clip' if duration is None else 's'


def clip_span(clip: int, num_clips: int,
              duration: Optional[float]) -> Tuple[List[float], str]:
    """Time span of clip ``clip`` of ``num_clips`` uniform clips
    (:func:`clip_edges`).

    Returns:
        tuple[list[float], str]: ``([start, end], unit)``, ``unit`` ``'s'``
        or ``'clip'`` (duration unknown).
    """
    edges, unit = clip_edges(num_clips, duration)
    return [float(edges[clip]), float(edges[clip + 1])], unit


@torch.no_grad()
def best_clips(queries: Mapping[str, Tensor],
               clips: Mapping[str, Tensor],
               lengths: Tensor,
               videos: Tensor,
               weights: Mapping[str, float],
               normalized: bool = False) -> Tensor:
    """Best-matching clip of some videos for some queries.

    ``best[i, j] = argmax_{t < lengths[videos[i, j]]} sum_b weights[b] *
    cos(queries[b][i], clips[b][videos[i, j], t])`` (cosine with
    ``F.normalize(eps=1e-12)`` as in
    :func:`~prvr_mm.evaluation.scoring.max_over_clips`).

    Only the valid clips of the listed (query, video) pairs are scored
    (:func:`~prvr_mm.evaluation.moments.pair_clip_scores`, shared with the
    search and the moment metrics; ``O(q * k * L * H)`` work, neither a
    ``(q, V, L)`` tensor nor a padded ``(q, k, L, H)`` copy of the clips).

    Args:
        queries (dict[str, Tensor]): per branch (q, H) query vectors.
        clips (dict[str, Tensor]): per branch (V, L, H) padded clip vectors.
        lengths (Tensor): (V,) number of valid clips of every video.
        videos (Tensor): (q, k) video indices to look at for every query.
        weights (dict[str, float]): weight of every branch.
        normalized (bool): whether ``clips`` are already L2-normalised.

    Returns:
        Tensor: (q, k) int64 clip indices (0 for a video without clips).
    """
    num_v = lengths.shape[0]
    curves = {}
    for name in weights:
        padded = clips[name]
        max_len = padded.shape[1]
        curves[name] = pair_clip_scores(
            F.normalize(queries[name].float(), dim=-1, eps=NORM_EPS),
            padded.reshape(-1, padded.shape[-1]),
            torch.arange(num_v + 1) * max_len,
            videos,
            max_len=max_len,
            normalized=normalized,
            lengths=lengths)
    return fuse(curves, weights).argmax(dim=-1)


def _padded(results: List[dict], key: str) -> Tensor:
    return pad_sequence([r[key] for r in results], batch_first=True)


def write_rankings(path: str,
                   results: List[dict],
                   scores: Mapping[str, Tensor],
                   weights: Mapping[str, float],
                   topk: int = 100,
                   query_chunk: int = 1024) -> None:
    """Write the top-k videos of every query with moment hints as JSON.

    Args:
        path (str): output file (parent folders are created).
        results (list[dict]): :meth:`PRVRMetric.process` results in dataset
            order (``video_id``, ``query_ids``, ``{branch}_clips``,
            ``{branch}_queries``, optional ``duration`` / ``timestamps``).
        scores (dict[str, Tensor]): (Q, V) score matrix per branch and, with
            two branches, ``'fused'`` (:meth:`PRVRMetric.score_matrices`).
        weights (dict[str, float]): fusion weight of every branch
            (:func:`~prvr_mm.evaluation.scoring.fusion_weights`; the
            header's ``fusion_weight`` is the first branch's).
        topk (int): videos listed per query (capped at V). Defaults to 100.
        query_chunk (int): max queries handled at once. Defaults to 1024.
    """
    if topk < 1:
        raise PRVRConfigError(f'dump_topk must be >= 1, got {topk}')
    branches = list(weights)
    main = 'fused' if 'fused' in scores else branches[0]
    ranking = scores[main]
    num_queries, num_videos = ranking.shape
    k = min(topk, num_videos)

    video_ids = [r['video_id'] for r in results]
    durations = [r.get('duration') for r in results]
    lengths = torch.tensor([len(r[f'{branches[0]}_clips']) for r in results])
    # normalised once (not once per gather)
    clips = {
        name:
        F.normalize(
            _padded(results, f'{name}_clips').float(), dim=-1, eps=NORM_EPS)
        for name in weights
    }
    queries = {
        name: torch.cat([r[f'{name}_queries'] for r in results])
        for name in weights
    }
    query_ids, gt, stamps = [], [], []
    for v, r in enumerate(results):
        query_ids.extend(r['query_ids'])
        gt.extend([v] * len(r['query_ids']))
        stamps.extend(r.get('timestamps') or [None] * len(r['query_ids']))
    gt = torch.tensor(gt, dtype=torch.long)
    ranks = gt_ranks(ranking, gt[:, None])[:, 0].tolist()

    chunk = max(1, query_chunk)
    num_clips = lengths.tolist()

    edges = {}

    def hint(v: int, clip: int) -> Tuple[List[float], str]:
        if v not in edges:  # one rule call per video, not per hint
            edges[v] = clip_edges(num_clips[v], durations[v])
        bounds, unit = edges[v]
        return [float(bounds[clip]), float(bounds[clip + 1])], unit

    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    header = dict(
        version=RANKINGS_VERSION,
        fusion_weight=weights[branches[0]],
        branches=branches,
        score=main,
        topk=k,
        num_queries=num_queries,
        num_videos=num_videos)
    with open(path, 'w') as f:
        f.write(json.dumps(header)[:-1] + ', "queries": [')
        for start in range(0, num_queries, chunk):
            end = min(start + chunk, num_queries)
            top = torch.topk(ranking[start:end], k, dim=1)
            # the ground-truth video is appended as column k
            videos = torch.cat([top.indices, gt[start:end, None]], dim=1)
            best = best_clips({
                n: q[start:end]
                for n, q in queries.items()
            },
                              clips,
                              lengths,
                              videos,
                              weights,
                              normalized=True).tolist()
            values = {
                name: scores[name][start:end].gather(1, videos).tolist()
                for name in dict.fromkeys((main, *branches))
            }
            top_videos = top.indices.tolist()
            for i in range(end - start):
                q = start + i
                v_gt = int(gt[q])
                gt_span, gt_unit = hint(v_gt, best[i][k])
                record = dict(
                    query_id=query_ids[q],
                    gt_video=video_ids[v_gt],
                    gt_rank=int(ranks[q]),
                    gt_score=values[main][i][k],
                    gt_clip=best[i][k],
                    gt_span=gt_span,
                    gt_unit=gt_unit)
                if stamps[q] is not None:
                    record['gt_timestamps'] = [float(t) for t in stamps[q]]
                items = []
                for j, v in enumerate(top_videos[i]):
                    item = dict(
                        video_id=video_ids[v], score=values[main][i][j])
                    for name in branches:
                        item[f'{name}_score'] = values[name][i][j]
                    span, unit = hint(v, best[i][j])
                    item.update(clip=best[i][j], span=span, unit=unit)
                    items.append(item)
                record['results'] = items
                f.write((', ' if q else '') + json.dumps(record))
        f.write(']}\n')
