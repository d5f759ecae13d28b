"""Ranking metrics of a (Q, V) score matrix for video retrieval.

The score matrix comes from :mod:`prvr_mm.evaluation.scoring` (max over
clips, fusion); here it becomes the PRVR retrieval metrics without sorting:

* :func:`gt_ranks` ranks only the ground-truth videos, by counting the
  videos that score strictly higher (``O(chunk * V)`` memory, no sort).
* :func:`retrieval_metrics` implements the metric conventions of the
  DL-DKD evaluation (best positive for R@k / MedR / MnR, first positive for
  mAP); ``benchmarks/reference_metrics.py`` holds the straightforward
  per-query reference of the same numbers (numpy ``argsort`` and a Python
  AP loop, as the authors evaluate), used by tests and benchmarks.
"""
from typing import Dict, Sequence

import torch
from torch import Tensor

# cap on the elements of one gt_ranks comparison block (cache-sized on CPU)
_RANK_BLOCK_NUMEL = 1 << 21

__all__ = ['gt_ranks', 'retrieval_metrics', 'random_ranking_sumr']


@torch.no_grad()
def gt_ranks(scores: Tensor,
             positives: Tensor,
             *,
             chunk: int = 4096) -> Tensor:
    """1-based rank of every ground-truth video, without sorting.

    ``rank = 1 + #{videos with a STRICTLY greater score}``: a positive tied
    with other videos gets the best (optimistic) rank of the tie group. This
    equals the rank from any sort of the scores when there are no ties with
    the positive (the usual case for real-valued scores); a full
    ``argsort`` breaks ties in an arbitrary order instead.

    Work is chunked over queries and over the positive columns: the only
    large temporary is one reused ``(rows, V)`` boolean comparison buffer,
    with ``rows = min(chunk, max(1, 2**21 // V))``, i.e. ``chunk`` bounds
    the memory at ``chunk * V`` and blocks are further capped at 2M
    elements so that they stay cache-resident on CPUs (figures:
    ``docs/speed.md``).

    Args:
        scores (Tensor): (Q, V) scores, higher = better.
        positives (Tensor): (Q, P) int64 indices of the relevant videos,
            padded with -1 (``P >= 1``).
        chunk (int): maximum queries per block. Defaults to 4096.

    Returns:
        Tensor: (Q, P) int64 ranks in ``[1, V]`` on ``scores.device``;
        padded (-1) entries get the sentinel rank 0.
    """
    if scores.dim() != 2:
        raise ValueError(f'scores must be (Q, V), got {tuple(scores.shape)}')
    if positives.dim() != 2 or positives.shape[0] != scores.shape[0]:
        raise ValueError(f'positives must be (Q, P) with Q='
                         f'{scores.shape[0]}, got {tuple(positives.shape)}')
    if chunk < 1:
        raise ValueError('chunk must be >= 1')
    num_queries, num_videos = scores.shape
    positives = positives.to(device=scores.device, dtype=torch.long)
    if bool((positives >= num_videos).any()):
        raise ValueError(f'positive index out of range (V={num_videos})')
    is_valid = positives >= 0
    # (P, Q): one contiguous row of positive scores / counts per column
    pos_scores = scores.gather(1, positives.clamp(min=0)).t().contiguous()
    counts = torch.empty(
        positives.shape[1],
        num_queries,
        dtype=torch.int32,
        device=scores.device)
    chunk = max(1, min(chunk, _RANK_BLOCK_NUMEL // max(1, num_videos)))
    greater = torch.empty(
        min(chunk, num_queries),
        num_videos,
        dtype=torch.bool,
        device=scores.device)
    for start in range(0, num_queries, chunk):
        end = min(start + chunk, num_queries)
        block = scores[start:end]
        for col in range(positives.shape[1]):
            mask = torch.gt(
                block,
                pos_scores[col, start:end, None],
                out=greater[:end - start])
            # counting bytes is much faster than summing bools into int64
            torch.sum(
                mask.view(torch.uint8),
                dim=1,
                dtype=torch.int32,
                out=counts[col, start:end])
    ranks = counts.t().to(torch.long) + 1
    return ranks.masked_fill_(~is_valid, 0)


def _median(values: Tensor) -> float:
    """``np.median`` of a 1-D tensor (mean of the two middle values when the
    length is even), in float64.

    Args:
        values (Tensor): (N,) values, N >= 1.

    Returns:
        float: the median.
    """
    ordered = values.to(torch.float64).sort().values
    num = ordered.numel()
    mid = num // 2
    if num % 2:
        return float(ordered[mid])
    return float((ordered[mid - 1] + ordered[mid]) / 2)


def retrieval_metrics(scores: Tensor,
                      positives: Tensor,
                      ks: Sequence[int] = (1, 5, 10, 100),
                      chunk: int = 4096) -> Dict[str, float]:
    """Text-to-video retrieval metrics of a score matrix.

    Conventions (those of the DL-DKD evaluation):

    * ``R@k``, ``MedR``, ``MnR`` use the BEST ranked valid positive of each
      query: ``R@k = 100 * #{rank <= k} / Q`` (percent), ``MedR`` = median
      rank as ``np.median`` (mean of the two middle ranks for an even Q, so
      possibly ``x.5``), ``MnR`` = mean rank.
    * ``mAP`` uses ONLY the first listed positive (column 0): with a single
      relevant video the average precision is ``1 / rank``; ``mAP`` is its
      mean over queries (a fraction in ``[0, 1]``, not percent).
    * ``SumR`` = sum of the ``R@k`` over ``ks``.

    Ranks come from :func:`gt_ranks` (``1 + #strictly greater scores``, no
    sort); the reductions are done in float64.

    Args:
        scores (Tensor): (Q, V) scores, higher = better.
        positives (Tensor): (Q, P) int64 relevant video indices padded with
            -1; column 0 must be valid for every query.
        ks (Sequence[int]): cut-offs of the recalls. Defaults to
            ``(1, 5, 10, 100)``.
        chunk (int): maximum query block size of :func:`gt_ranks`.
            Defaults to 4096.

    Returns:
        dict[str, float]: ``R@<k>`` for every k, ``SumR``, ``MedR``, ``MnR``
        and ``mAP``.
    """
    positives = torch.as_tensor(positives)
    if positives.dim() == 1:
        positives = positives[:, None]
    if scores.shape[0] == 0:
        raise ValueError('retrieval_metrics needs at least one query')
    if bool((positives[:, 0] < 0).any()):
        raise ValueError('the first positive of every query must be valid '
                         '(pad with -1 on the right)')
    ranks = gt_ranks(scores, positives, chunk=chunk).cpu()
    num_videos = scores.shape[1]
    best = ranks.masked_fill(ranks == 0, num_videos + 1).amin(dim=1)
    best = best.to(torch.float64)
    first = ranks[:, 0].to(torch.float64)
    num_queries = ranks.shape[0]

    metrics: Dict[str, float] = {}
    for k in ks:
        metrics[f'R@{k}'] = 100.0 * int((best <= k).sum()) / num_queries
    metrics['SumR'] = float(sum(metrics[f'R@{k}'] for k in ks))
    metrics['MedR'] = _median(best)
    metrics['MnR'] = float(best.mean())
    metrics['mAP'] = float((1.0 / first).mean())
    return metrics


def random_ranking_sumr(num_videos: int,
                        ks: Sequence[int] = (1, 5, 10, 100)) -> float:
    """Expected SumR of a uniformly random ranking (one positive/query).

    Args:
        num_videos (int): videos ranked for every query.
        ks (Sequence[int]): the recall cut-offs summed. Defaults to
            ``(1, 5, 10, 100)``.

    Returns:
        float: ``sum_k 100 * min(k, V) / V``.
    """
    return sum(100.0 * min(k, num_videos) / num_videos for k in ks)
