"""Memory-bounded scoring and ranking metrics for video retrieval evaluation.

The functions here turn query vectors and per-clip video vectors into a
``(Q, V)`` score matrix (max over the valid clips of every video) and the
score matrix into the PRVR retrieval metrics (R@k, SumR, MedR, MnR, mAP),
without ever materialising a ``(Q, V, L)`` tensor and without sorting the
score matrix:

* :func:`chunked_max_scores` walks over ``video_chunk x query_chunk`` blocks,
  so its working memory is ``O(video_chunk * L * query_chunk)`` plus the
  ``(Q, V)`` result.
* :func:`gt_ranks` ranks only the ground-truth videos, by counting the
  videos that score strictly higher (``O(chunk * V)`` memory, no sort).
* :func:`retrieval_metrics` implements the metric conventions of the
  DL-DKD evaluation (best positive for R@k / MedR / MnR, first positive for
  mAP); ``benchmarks/reference_metrics.py`` holds the straightforward
  per-query reference of the same numbers (numpy ``argsort`` and a Python
  AP loop, as the authors evaluate), used by tests and benchmarks.
* :func:`branch_weights` and :func:`fuse_scores` define the fused score
  ``w * inher + (1 - w) * explore``.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

DeviceType = Optional[Union[str, torch.device]]
# cap on the elements of one gt_ranks comparison block (cache-sized on CPU)
_RANK_BLOCK_NUMEL = 1 << 21

__all__ = [
    'chunked_max_scores', 'gt_ranks', 'retrieval_metrics', 'fuse_scores',
    'branch_weights', 'random_ranking_sumr'
]


def _compute_dtype(device: torch.device, half: bool) -> torch.dtype:
    """Dtype of the query x clip products.

    Args:
        device (torch.device): device of the computation.
        half (bool): whether to use a 16-bit product.

    Returns:
        torch.dtype: ``float16`` on CUDA / ``bfloat16`` elsewhere when
        ``half``, ``float32`` otherwise.
    """
    if not half:
        return torch.float32
    return torch.float16 if device.type == 'cuda' else torch.bfloat16


@torch.no_grad()
def chunked_max_scores(queries: Tensor,
                       clips: Tensor,
                       clip_mask: Tensor,
                       *,
                       query_chunk: int = 2048,
                       video_chunk: int = 64,
                       normalize: bool = True,
                       half: bool = False,
                       device: DeviceType = None) -> Tensor:
    """Max-over-valid-clips similarity of every query to every video.

    ``scores[i, j] = max_{t: clip_mask[j, t]} sim(queries[i], clips[j, t])``
    where ``sim`` is the cosine similarity (``F.normalize`` with
    ``eps=1e-12`` on both sides) when ``normalize`` and the raw dot product
    otherwise.

    The computation runs over blocks of ``video_chunk`` videos (outer loop)
    x ``query_chunk`` queries (inner loop) with one GEMM per block, so the
    extra memory is ``O(video_chunk * L * query_chunk)`` (one reused score
    buffer) plus one normalised copy of the current video chunk; the
    ``(Q, V, L)`` tensor is never built. Queries are normalised once up
    front, every video chunk once (not once per query chunk).

    Videos are processed in ascending order of their clip extent (index of
    the last valid clip + 1) and every chunk is cut to the longest extent in
    it, which skips most padded clips when video lengths vary. Invalid clips
    inside a chunk are filled with ``torch.finfo(dtype).min`` before the max
    (the fill is skipped for chunks without any invalid clip). Masks need
    not be prefix masks. A video without any valid clip scores
    ``torch.finfo(torch.float32).min`` for every query.

    ``clips`` may stay on another device than the computation (e.g. a big
    CPU tensor, possibly stored in float16 to halve its footprint, scored on
    CUDA): each video chunk is gathered, moved and up-cast on its own.

    Args:
        queries (Tensor): (Q, H) query vectors (any float dtype).
        clips (Tensor): (V, L, H) clip vectors, padded (any float dtype).
        clip_mask (Tensor): (V, L) mask, 1 / True = valid clip,
            0 / False = padding (bool or any numeric dtype).
        query_chunk (int): queries per block. Defaults to 2048.
        video_chunk (int): videos per block. Defaults to 64 (with
            ``L = 128`` and the default ``query_chunk`` the reused score
            buffer is 64 MiB; the defaults were tuned on a 2-core AVX2 CPU,
            larger blocks suit GPUs).
        normalize (bool): cosine similarity when True, raw dot product
            otherwise. Defaults to True.
        half (bool): compute the products in float16 on CUDA / bfloat16
            elsewhere (the GEMM accumulates in float32; normalisation and the
            returned scores are float32). Note that CPUs without native
            bfloat16 GEMM support are slower in this mode. Defaults to False.
        device (str | torch.device, optional): device of the computation.
            Defaults to ``queries.device``.

    Returns:
        Tensor: (Q, V) float32 scores on the device of the computation
        (``device`` if given, else ``queries.device``).
    """
    if queries.dim() != 2:
        raise ValueError(f'queries must be (Q, H), got {tuple(queries.shape)}')
    if clips.dim() != 3:
        raise ValueError(f'clips must be (V, L, H), got {tuple(clips.shape)}')
    num_videos, max_len, dim = clips.shape
    if queries.shape[1] != dim:
        raise ValueError(f'hidden size mismatch: queries {queries.shape[1]} '
                         f'vs clips {dim}')
    if tuple(clip_mask.shape) != (num_videos, max_len):
        raise ValueError(f'clip_mask must be {(num_videos, max_len)}, got '
                         f'{tuple(clip_mask.shape)}')
    if query_chunk < 1 or video_chunk < 1:
        raise ValueError('query_chunk and video_chunk must be >= 1')

    device = queries.device if device is None else torch.device(device)
    dtype = _compute_dtype(device, half)
    num_queries = queries.shape[0]
    out = torch.empty(
        num_queries, num_videos, dtype=torch.float32, device=device)
    if num_queries == 0 or num_videos == 0:
        return out

    query = queries.to(device=device, dtype=torch.float32)
    if normalize:
        query = F.normalize(query, dim=-1, eps=1e-12)
    query = query.to(dtype)

    valid = clip_mask.to(device=device) != 0  # (V, L) bool
    positions = torch.arange(1, max_len + 1, device=device)
    extent = (valid * positions).amax(dim=1)  # (V,) last valid index + 1
    order = torch.argsort(extent, stable=True)
    sorted_extent: List[int] = extent[order].tolist()
    order_src = order.to(clips.device)
    fill = torch.finfo(dtype).min

    buffer: Optional[Tensor] = None
    for v_start in range(0, num_videos, video_chunk):
        v_end = min(v_start + video_chunk, num_videos)
        idx = order[v_start:v_end]
        chunk_len = sorted_extent[v_end - 1]  # extents are sorted ascending
        if chunk_len == 0:  # only videos without valid clips
            out[:, idx] = torch.finfo(torch.float32).min
            continue
        num_rows = (v_end - v_start) * chunk_len

        # gather, move and normalise the video chunk once
        chunk = clips[:, :chunk_len].index_select(0, order_src[v_start:v_end])
        chunk = chunk.to(device=device, dtype=torch.float32)
        if normalize:
            chunk = F.normalize(chunk, dim=-1, eps=1e-12)
        chunk = chunk.to(dtype).reshape(num_rows, dim)
        pad = ~valid[:, :chunk_len].index_select(0, idx)  # (v, Lc)
        pad = pad.unsqueeze(-1) if bool(pad.any()) else None

        for q_start in range(0, num_queries, query_chunk):
            q_end = min(q_start + query_chunk, num_queries)
            numel = num_rows * (q_end - q_start)
            if buffer is None or buffer.numel() < numel:
                # one reused GEMM output: fresh multi-MB allocations would
                # page-fault on every block
                buffer = torch.empty(
                    max(numel,
                        video_chunk * max_len * min(query_chunk, num_queries)),
                    dtype=dtype,
                    device=device)
            scores = buffer[:numel].view(num_rows, q_end - q_start)
            torch.mm(chunk, query[q_start:q_end].t(), out=scores)
            scores = scores.view(v_end - v_start, chunk_len, q_end - q_start)
            if pad is not None:
                scores.masked_fill_(pad, fill)
            best = scores.amax(dim=1)  # (v, q)
            out[q_start:q_end, idx] = best.t().to(torch.float32)

    if half:
        # videos without valid clips: report the float32 minimum, not the
        # (up-cast) minimum of the 16-bit dtype
        empty = extent == 0
        if bool(empty.any()):
            out[:, empty] = torch.finfo(torch.float32).min
    return out


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
    elements so that they stay cache-resident on CPUs (4-10x faster than
    large blocks at V ~ 2k-20k).

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


def fuse_scores(inher: Tensor, explore: Tensor, weight: float) -> Tensor:
    """Weighted sum of the inheritance and exploration branch scores.

    Computes ``weight * inher + (1 - weight) * explore`` with the same
    float rounding as that expression, block by block into a single output
    (temporaries are bounded by one ~32 MiB block).

    Args:
        inher (Tensor): (Q, V) inheritance-branch scores.
        explore (Tensor): (Q, V) exploration-branch scores.
        weight (float): weight of the inheritance branch.

    Returns:
        Tensor: (Q, V) fused scores.
    """
    if inher.shape != explore.shape:
        raise ValueError(f'shape mismatch: {tuple(inher.shape)} vs '
                         f'{tuple(explore.shape)}')
    if inher.dim() < 2:
        return weight * inher + (1 - weight) * explore
    dtype = torch.promote_types(inher.dtype, explore.dtype)
    out = torch.empty(inher.shape, dtype=dtype, device=inher.device)
    rows = max(1, (1 << 23) // max(1, inher[0].numel()))
    for start in range(0, inher.shape[0], rows):
        end = min(start + rows, inher.shape[0])
        torch.mul(inher[start:end], weight, out=out[start:end])
        out[start:end] += explore[start:end] * (1 - weight)
    return out


def branch_weights(branches: Sequence[str],
                   fusion_weight: float) -> Dict[str, float]:
    """Weight of every branch in the fused score.

    Args:
        branches (Sequence[str]): one or two branch names, the inheritance
            branch first (``('inher', 'explore')``).
        fusion_weight (float): ``w`` of ``w * inher + (1 - w) * explore``.

    Returns:
        dict[str, float]: ``{inher: w, explore: 1 - w}``, or ``{name: 1.0}``
        for a single branch.
    """
    if len(branches) == 2:
        return {branches[0]: fusion_weight, branches[1]: 1 - fusion_weight}
    return {branches[0]: 1.0}


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
