"""Moment hints: where in a video a query matches best, and how well that
agrees with the annotated moment.

A PRVR model scores a query against every clip of a video; the video score
is the max over clips. The *moment hint* of a (query, video) pair is the
best clip and, around it, the run of consecutive clips that score nearly as
well (:func:`best_runs`). The same functions serve the search
(:mod:`prvr_mm.apis`) and the moment metrics of :class:`PRVRMetric`, all
vectorised over pairs and chunked by memory:

* :func:`pair_clip_scores` -- per-clip cosines of listed (query, video)
  pairs from flat clip embeddings (``(q, k, L)``, ``-inf`` beyond a video's
  clips), never a ``(Q, V, L)`` tensor;
* :func:`best_runs` -- best clip and best run of every curve;
* :func:`uniform_clip_spans` -- time spans of uniform clips;
* :func:`temporal_iou` and :func:`moment_metrics` -- hit rate and mean
  temporal IoU of the hints against annotated moments.
"""
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .scoring import NORM_EPS, fuse

__all__ = [
    'DEFAULT_RUN_RATIO', 'pair_rows', 'pair_clip_scores', 'best_runs',
    'uniform_clip_spans', 'temporal_iou', 'moment_metrics'
]

# A run extends the best clip over neighbours scoring at least
# ``best - ratio * (best - mean)``: 0 = the best clip alone, 1 = every
# neighbour above the video's mean clip score.
DEFAULT_RUN_RATIO = 0.5
# elements of one gathered (rows, H) block of pair_clip_scores
_PAIR_BLOCK_NUMEL = 1 << 23


def pair_rows(offsets: Tensor,
              videos: Tensor,
              lengths: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """Clip rows of listed (query, video) pairs, one padded list per query.

    Args:
        offsets (Tensor): (V + 1,) int64 first clip row of every video.
        videos (Tensor): (q, k) int64 video indices, -1 = empty slot.
        lengths (Tensor, optional): (V,) clips of every video; defaults to
            ``offsets[1:] - offsets[:-1]`` (videos stored back to back).

    Returns:
        dict[str, Tensor]: ``rows`` (q, W) int64 clip rows of every query's
        pairs one after the other, -1 padded (``W`` = the most rows of a
        query); for every listed clip (P of them): ``pair`` (P,) flat pair
        index ``i * k + j``, ``pos`` (P,) clip index in its video and
        ``slot`` (P,) flat position in ``rows``; ``counts`` (q, k) clips of
        every pair.
    """
    offsets = offsets.to(torch.long)
    videos = videos.to(torch.long)
    if lengths is None:
        lengths = offsets[1:] - offsets[:-1]
    lengths = lengths.to(torch.long)
    valid = videos >= 0
    counts = torch.where(valid, lengths[videos.clamp(min=0)], 0)
    num_q, k = videos.shape
    n = counts.reshape(-1)
    first = torch.cumsum(n, 0) - n  # first listed clip of every pair
    pair = torch.repeat_interleave(n)  # (P,)
    pos = torch.arange(pair.numel()) - first[pair]
    owner = pair // k
    per_query = counts.sum(1)
    width = int(per_query.max()) if num_q else 0
    slot = owner * width + torch.arange(pair.numel()) - first[owner * k]
    rows = torch.full((num_q * width, ), -1, dtype=torch.long)
    rows[slot] = offsets[videos.clamp(min=0).reshape(-1)][pair] + pos
    return dict(
        rows=rows.view(num_q, width),
        pair=pair,
        pos=pos,
        slot=slot,
        counts=counts)


def _gemv_scores(queries: Tensor, clips: Tensor, rows: Tensor,
                 normalize: bool) -> Tensor:
    """(q, W) ``clips[rows[i]] @ queries[i]`` (-inf at -1), in bounded
    blocks of queries: gather (L2-normalise the rows when ``normalize``),
    then one batched GEMV per block."""
    num_q, width = rows.shape
    out = torch.full((num_q, width), float('-inf'))
    if width == 0:
        return out
    dim = clips.shape[1]
    step = max(1, _PAIR_BLOCK_NUMEL // (width * dim))
    for start in range(0, num_q, step):
        block_rows = rows[start:start + step]
        block = clips.index_select(0, block_rows.clamp(min=0).view(-1))
        block = block.float().view(len(block_rows), width, dim)
        if normalize:
            block = F.normalize(block, dim=-1, eps=NORM_EPS)
        sims = torch.bmm(block, queries[start:start + step, :, None])[..., 0]
        out[start:start + step] = sims.masked_fill(block_rows < 0,
                                                   float('-inf'))
    return out


@torch.no_grad()
def pair_clip_scores(queries: Tensor,
                     clips: Tensor,
                     offsets: Tensor,
                     videos: Tensor,
                     max_len: Optional[int] = None,
                     normalized: bool = False,
                     scorer: Optional[Callable[[Tensor, Tensor],
                                               Tensor]] = None,
                     lengths: Optional[Tensor] = None) -> Tensor:
    """Cosine of every listed (query, video) pair at every clip.

    ``out[i, j, t] = cos(queries[i], clips[offsets[v] + t])`` with
    ``v = videos[i, j]`` for ``t < offsets[v + 1] - offsets[v]``, ``-inf``
    elsewhere (and for ``v = -1``, an empty slot). Only the valid clips of
    the listed videos are scored: one row list per query
    (:func:`pair_rows`), gathered in blocks of about 8M elements and
    multiplied with one batched GEMV per block, or handed to
    ``scorer`` (e.g. faiss' ``compute_distance_subset``, which reads the
    rows in place); the work is ``O(q * k * T * H)`` with no padded
    ``(q, k, L, H)`` copy.

    Args:
        queries (Tensor): (q, H) query vectors.
        clips (Tensor): (N, H) clip vectors of all videos, video after
            video (any float dtype; gathered rows are up-cast to float32).
        offsets (Tensor): (V + 1,) int64, video ``v`` owns rows
            ``offsets[v]:offsets[v + 1]``.
        videos (Tensor): (q, k) int64 video indices, -1 = empty slot.
        max_len (int, optional): ``L``; defaults to the longest listed
            video.
        normalized (bool): whether ``queries`` and ``clips`` are already
            L2-normalised (else ``F.normalize(eps=1e-12)`` is applied, as
            in :func:`~prvr_mm.evaluation.scoring.max_over_clips`).
            Defaults to False.
        scorer (callable, optional): ``scorer(queries (q, H), rows (q, W))
            -> (q, W)`` inner products of normalised queries with the clip
            rows (-1 = none); needs ``normalized=True``.
        lengths (Tensor, optional): (V,) valid clips of every video when
            they are not stored back to back (e.g. a padded (V, L, H)
            tensor viewed as (V * L, H) with ``offsets = arange(V + 1) *
            L``); video ``v`` then owns rows ``offsets[v]:offsets[v] +
            lengths[v]``.

    Returns:
        Tensor: (q, k, L) float32 cosines, ``-inf`` at invalid positions.
    """
    if queries.dim() != 2 or clips.dim() != 2:
        raise ValueError(f'queries must be (q, H) and clips (N, H), got '
                         f'{tuple(queries.shape)} and {tuple(clips.shape)}')
    if queries.shape[1] != clips.shape[1]:
        raise ValueError(f'hidden size mismatch: queries {queries.shape[1]} '
                         f'vs clips {clips.shape[1]}')
    if videos.dim() != 2 or videos.shape[0] != queries.shape[0]:
        raise ValueError(f'videos must be (q, k) with q={queries.shape[0]}, '
                         f'got {tuple(videos.shape)}')
    if scorer is not None and not normalized:
        raise ValueError('a scorer needs normalized=True inputs')
    layout = pair_rows(offsets, videos, lengths)
    counts = layout['counts']
    if max_len is None:
        max_len = int(counts.max()) if counts.numel() else 0
    num_q, k = videos.shape
    out = torch.full((num_q, k, max(max_len, 1)), float('-inf'))
    if num_q == 0 or k == 0 or max_len == 0:
        return out[..., :max_len]
    if bool((counts > max_len).any()):
        raise ValueError(f'max_len={max_len} is shorter than a listed video '
                         f'({int(counts.max())} clips)')
    query = queries.float()
    if not normalized:
        query = F.normalize(query, dim=-1, eps=NORM_EPS)
    rows = layout['rows']
    if scorer is None:
        sims = _gemv_scores(query, clips, rows, normalize=not normalized)
    else:
        sims = scorer(query, rows)
    out.view(-1)[layout['pair'] * out.shape[-1] + layout['pos']] = \
        sims.reshape(-1)[layout['slot']]
    return out


@torch.no_grad()
def best_runs(curves: Tensor,
              ratio: float = DEFAULT_RUN_RATIO
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """Best clip and best run of consecutive clips of every curve.

    The run is the longest stretch of consecutive valid clips around the
    best clip ``b`` whose scores all reach ``s_b - ratio * (s_b - mean)``,
    ``mean`` being the mean score over the video's valid clips. ``ratio=0``
    keeps the best clip (and equal neighbours) only. Ties for the best
    clip go to the first one (``argmax``), as the rankings dump.

    Args:
        curves (Tensor): (..., L) clip scores, ``-inf`` = no clip.
        ratio (float): in ``[0, 1]``. Defaults to
            :data:`DEFAULT_RUN_RATIO`.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(best, start, end)`` int64 (...,):
        the best clip and the first and last clip (inclusive) of the run;
        all 0 for a curve without any valid clip.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f'run ratio must be in [0, 1], got {ratio}')
    valid = torch.isfinite(curves)
    count = valid.sum(-1)
    best = curves.argmax(-1)
    top = curves.gather(-1, best[..., None])[..., 0]
    mean = torch.where(valid, curves, 0).sum(-1) / count.clamp(min=1)
    threshold = top - ratio * (top - mean)
    above = valid & (curves >= threshold[..., None])
    pos = torch.arange(curves.shape[-1])
    outside = ~above
    start = torch.where(outside &
                        (pos <= best[..., None]), pos, -1).amax(-1) + 1
    end = torch.where(outside & (pos >= best[..., None]), pos,
                      curves.shape[-1]).amin(-1) - 1
    empty = count == 0
    zero = torch.zeros_like(best)
    return (torch.where(empty, zero, best), torch.where(empty, zero, start),
            torch.where(empty, zero, end))


def uniform_clip_spans(num_clips: Tensor,
                       durations: Optional[Tensor] = None) -> Tensor:
    """Time spans of every clip of videos cut into uniform clips.

    Clip ``i`` of ``T`` covers ``[d * (i / T), d * ((i + 1) / T)]`` seconds
    (the formula of the rankings dump's ``span``), or ``[i, i + 1]`` clip
    units where the duration is unknown (NaN).

    Args:
        num_clips (Tensor): (V,) clips per video.
        durations (Tensor, optional): (V,) seconds, NaN = unknown.

    Returns:
        Tensor: (sum(num_clips), 2) float64 spans, video after video.
    """
    num_clips = num_clips.to(torch.long)
    owner = torch.repeat_interleave(torch.arange(len(num_clips)), num_clips)
    first = torch.cumsum(num_clips, 0) - num_clips
    clip = (torch.arange(len(owner)) - first[owner]).to(torch.float64)
    edges = torch.stack([clip, clip + 1], dim=1)
    if durations is None:
        return edges
    total = num_clips[owner].to(torch.float64)[:, None]
    duration = durations.to(torch.float64)[owner][:, None]
    timed = duration * (edges / total)
    return torch.where(torch.isnan(duration), edges, timed)


def temporal_iou(pred: Tensor, gt: Tensor) -> Tensor:
    """Temporal IoU of ``[start, end]`` spans.

    Args:
        pred (Tensor): (..., 2) spans.
        gt (Tensor): (..., 2) spans (broadcastable).

    Returns:
        Tensor: (...) IoU in ``[0, 1]`` (0 for two empty spans).
    """
    inter = (torch.minimum(pred[..., 1], gt[..., 1]) -
             torch.maximum(pred[..., 0], gt[..., 0])).clamp(min=0)
    union = (
        torch.maximum(pred[..., 1], gt[..., 1]) -
        torch.minimum(pred[..., 0], gt[..., 0]))
    return torch.where(union > 0, inter / union.clamp(min=1e-12),
                       torch.zeros_like(inter))


@torch.no_grad()
def moment_metrics(queries: Mapping[str, Tensor],
                   clips: Mapping[str, Tensor],
                   offsets: Tensor,
                   gt_videos: Tensor,
                   durations: Tensor,
                   timestamps: Tensor,
                   weights: Mapping[str, float],
                   ratio: float = DEFAULT_RUN_RATIO) -> Dict[str, Dict]:
    """How well the moment hints in the ground-truth videos match the
    annotated moments.

    For every query, the hint in its ground-truth video is the best run
    (:func:`best_runs`) of each branch's clip curve and of the fused curve
    (``sum_b weights[b] * cos_b``); its span assumes uniform clips
    (:func:`uniform_clip_spans`).

    Args:
        queries (dict[str, Tensor]): per branch (Q, H) query vectors.
        clips (dict[str, Tensor]): per branch (N, H) flat clip vectors.
        offsets (Tensor): (V + 1,) clip offsets of the videos.
        gt_videos (Tensor): (Q,) video index of every query.
        durations (Tensor): (V,) video durations in seconds.
        timestamps (Tensor): (Q, 2) annotated ``[start, end]`` seconds.
        weights (dict[str, float]): fusion weights (one branch: ``1.0``).
        ratio (float): run ratio of :func:`best_runs`.

    Returns:
        dict[str, dict]: per branch name and ``'fused'`` (with two
        branches): ``hit`` (fraction of queries whose hint overlaps the
        moment), ``mIoU`` (mean temporal IoU), ``clip_hit`` and
        ``clip_mIoU`` (the same for the best clip alone).
    """
    videos = gt_videos.to(torch.long)[:, None]
    curves = {
        name: pair_clip_scores(queries[name], clips[name], offsets, videos)[:,
                                                                            0]
        for name in weights
    }
    if len(weights) > 1:
        curves['fused'] = fuse(curves, weights)
    lengths = (offsets[1:] - offsets[:-1]).to(torch.float64)
    total = lengths[gt_videos]
    duration = durations.to(torch.float64)[gt_videos]
    stamps = timestamps.to(torch.float64)
    out = {}
    for name, curve in curves.items():
        best, start, end = best_runs(curve, ratio)
        run = torch.stack([start, end + 1], 1).to(torch.float64)
        single = torch.stack([best, best + 1], 1).to(torch.float64)
        values = {}
        for key, span in (('', run), ('clip_', single)):
            seconds = duration[:, None] * (span / total[:, None])
            iou = temporal_iou(seconds, stamps)
            values[f'{key}hit'] = float((iou > 0).to(torch.float64).mean())
            values[f'{key}mIoU'] = float(iou.mean())
        out[name] = values
    return out
