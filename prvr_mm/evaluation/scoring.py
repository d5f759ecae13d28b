"""Query-to-video scores: the max over a video's valid clips, and the
fusion of branch scores. The one owner of both rules.

* :func:`max_over_clips` -- ``scores[i, j] = max_t sim(q_i, c_jt)`` over the
  valid clips of every video, from padded ``(V, L, H)`` clips with a mask
  or from flat ``(N, H)`` clips with offsets, in bounded blocks (never a
  ``(Q, V, L)`` tensor). The metric, the analysis helpers and the search
  index score through it; the training kernel with its gradient is
  :func:`prvr_mm.models.similarity.clip_scores` (tested equal to it).
* :func:`fusion_weights` and :func:`fuse` -- the fused score
  ``sum_b w_b * s_b`` of N named branches (DL-DKD:
  ``w * inher + (1 - w) * explore``), for score matrices and clip curves
  alike. The weights come from the evaluator config
  (:class:`~prvr_mm.evaluation.PRVRMetric`).
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PRVRConfigError

__all__ = [
    'NORM_EPS', 'SCORE_BLOCK_NUMEL', 'max_over_clips', 'block_sizes',
    'fusion_weights', 'fuse'
]

DeviceType = Optional[Union[str, torch.device]]
# F.normalize's default eps: a vector is divided by max(||x||, eps)
NORM_EPS = 1e-12
# elements of one (video rows x queries) score block: the one block-size
# policy of every scoring loop (64 MiB in float32)
SCORE_BLOCK_NUMEL = 1 << 24
# queries per block when the caller does not say
_QUERY_CHUNK = 2048


def _compute_dtype(device: torch.device, precision: str) -> torch.dtype:
    """bfloat16 for ``'bf16'`` (``'auto'``: where this device runs it
    faster, :func:`~prvr_mm.utils.hardware.resolve_precision`), else
    float32."""
    from ..utils.hardware import precision_dtype, resolve_precision
    return precision_dtype(resolve_precision(precision, str(device)))


def _check_inputs(queries: Tensor, clips: Tensor, clip_mask: Optional[Tensor],
                  offsets: Optional[Tensor]) -> None:
    if queries.dim() != 2:
        raise ValueError(f'queries must be (Q, H), got {tuple(queries.shape)}')
    if (clip_mask is None) == (offsets is None):
        raise ValueError('give clip_mask (padded (V, L, H) clips) or offsets '
                         '(flat (N, H) clips), not both or neither')
    if clip_mask is not None:
        if clips.dim() != 3:
            raise ValueError(
                f'clips must be (V, L, H), got {tuple(clips.shape)}')
        if tuple(clip_mask.shape) != tuple(clips.shape[:2]):
            raise ValueError(f'clip_mask must be {tuple(clips.shape[:2])}, '
                             f'got {tuple(clip_mask.shape)}')
    else:
        if clips.dim() != 2:
            raise ValueError(f'clips must be (N, H), got {tuple(clips.shape)}')
        if offsets.dim() != 1 or len(offsets) < 1 or \
                int(offsets[-1]) != clips.shape[0]:
            raise ValueError(f'offsets must be (V + 1,) ending at N='
                             f'{clips.shape[0]}, got {tuple(offsets.shape)}')
    if queries.shape[1] != clips.shape[-1]:
        raise ValueError(f'hidden size mismatch: queries {queries.shape[1]} '
                         f'vs clips {clips.shape[-1]}')


@torch.no_grad()
def max_over_clips(queries: Tensor,
                   clips: Tensor,
                   clip_mask: Optional[Tensor] = None,
                   *,
                   offsets: Optional[Tensor] = None,
                   normalize: bool = True,
                   precision: str = 'fp32',
                   device: DeviceType = None,
                   query_chunk: Optional[int] = None,
                   video_chunk: Optional[int] = None) -> Tensor:
    """Max-over-valid-clips similarity of every query to every video.

    ``scores[i, j] = max_{t valid} sim(queries[i], clip t of video j)``,
    ``sim`` the cosine (``F.normalize(eps=1e-12)`` on both sides) when
    ``normalize``, else the raw dot product.

    Clips come padded, ``(V, L, H)`` with ``clip_mask`` (V, L) (any mask,
    not only prefixes), or flat, ``(N, H)`` with ``offsets`` (V + 1,):
    video ``j`` owns rows ``offsets[j]:offsets[j + 1]``. Videos are scored
    in ascending order of their clip extent, a block of videos cut to the
    longest extent in it, one GEMM per (video block, query block) into one
    reused buffer; a block of equally long, contiguous flat videos is a
    view (no copy). A block holds at most :data:`SCORE_BLOCK_NUMEL` scores
    unless ``video_chunk`` says otherwise. ``clips`` may live on another
    device or dtype (e.g. a float16 CPU store scored on CUDA): each block is
    moved and up-cast on its own. A video without any valid clip scores
    ``torch.finfo(torch.float32).min``.

    Args:
        queries (Tensor): (Q, H) query vectors.
        clips (Tensor): (V, L, H) padded or (N, H) flat clip vectors.
        clip_mask (Tensor, optional): (V, L), nonzero = valid (padded
            clips).
        offsets (Tensor, optional): (V + 1,) int64 row offsets (flat clips).
        normalize (bool): cosine when True, raw dot product otherwise.
            Defaults to True.
        precision (str): ``'fp32'`` (default), ``'bf16'`` or ``'auto'``
            (bf16 where this device runs it faster). In bf16 the GEMM
            accumulates in float32 but each score is rounded to bfloat16
            (8 significant bits, steps of 2**-8 near 1) before the max, so
            near-equal videos can tie or swap; the returned tensor is
            float32.
        device (str | torch.device, optional): where to compute. Defaults
            to ``queries.device``.
        query_chunk (int, optional): queries per block. Defaults to 2048.
        video_chunk (int, optional): videos per block. Defaults to what
            fits :data:`SCORE_BLOCK_NUMEL` scores.

    Returns:
        Tensor: (Q, V) float32 scores on the device of the computation.
    """
    _check_inputs(queries, clips, clip_mask, offsets)
    for name, value in (('query_chunk', query_chunk), ('video_chunk',
                                                       video_chunk)):
        if value is not None and value < 1:
            raise ValueError(f'{name} must be >= 1, got {value}')
    device = queries.device if device is None else torch.device(device)
    dtype = _compute_dtype(device, precision)
    num_q, dim = queries.shape
    if clip_mask is not None:
        num_v, max_len = clips.shape[:2]
        valid = clip_mask.to(device=device) != 0
        positions = torch.arange(1, max_len + 1, device=device)
        extent = (valid * positions).amax(dim=1) if max_len else \
            torch.zeros(num_v, dtype=torch.long, device=device)
        starts = None
    else:
        offsets = offsets.to(torch.long)
        starts = offsets[:-1].to(device)
        extent = (offsets[1:] - offsets[:-1]).to(device)
        num_v, max_len = len(extent), int(extent.max()) if len(extent) else 0
        valid = None
    out = torch.empty(num_q, num_v, dtype=torch.float32, device=device)
    if num_q == 0 or num_v == 0:
        return out
    query = queries.to(device=device, dtype=torch.float32)
    if normalize:
        query = F.normalize(query, dim=-1, eps=NORM_EPS)
    query = query.to(dtype)
    q_step, v_step = block_sizes(num_q, max_len, query_chunk, video_chunk)

    order = torch.argsort(extent, stable=True)
    sorted_extent: List[int] = extent[order].tolist()
    fill = torch.finfo(dtype).min
    buffer: Optional[Tensor] = None
    v_start = 0
    while v_start < num_v:
        v_end = min(v_start + v_step, num_v)
        if starts is not None:  # flat: a block never mixes lengths
            v_end = min(
                v_end, v_start +
                sorted_extent[v_start:v_end].count(sorted_extent[v_start]))
        idx = order[v_start:v_end]
        length = sorted_extent[v_end - 1]
        if length == 0:  # only videos without valid clips
            out[:, idx] = torch.finfo(torch.float32).min
            v_start = v_end
            continue
        block, pad = _video_block(clips, valid, starts, idx, length)
        block = block.to(device=device, dtype=torch.float32)
        if normalize:
            block = F.normalize(block, dim=-1, eps=NORM_EPS)
        rows = (v_end - v_start) * length
        block = block.to(dtype).reshape(rows, dim)
        for q_start in range(0, num_q, q_step):
            q_end = min(q_start + q_step, num_q)
            numel = rows * (q_end - q_start)
            if buffer is None or buffer.numel() < numel:
                # one reused GEMM output: fresh multi-MB allocations would
                # page-fault on every block
                buffer = torch.empty(
                    max(numel, min(SCORE_BLOCK_NUMEL,
                                   v_step * max_len * q_step)),
                    dtype=dtype,
                    device=device)
            scores = buffer[:numel].view(rows, q_end - q_start)
            torch.mm(block, query[q_start:q_end].t(), out=scores)
            scores = scores.view(v_end - v_start, length, q_end - q_start)
            if pad is not None:
                scores.masked_fill_(pad, fill)
            out[q_start:q_end, idx] = scores.amax(dim=1).t().to(torch.float32)
        v_start = v_end
    if dtype != torch.float32:  # empty videos: the float32 minimum
        empty = extent == 0
        if bool(empty.any()):
            out[:, empty] = torch.finfo(torch.float32).min
    return out


def block_sizes(num_queries: int,
                max_len: int,
                query_chunk: Optional[int] = None,
                video_chunk: Optional[int] = None) -> Tuple[int, int]:
    """Queries and videos per block of :func:`max_over_clips` (the one
    block-size policy: a block holds at most :data:`SCORE_BLOCK_NUMEL`
    scores unless the caller fixes ``video_chunk``).

    Args:
        num_queries (int): Q.
        max_len (int): the most clips of a video, L.
        query_chunk (int, optional): fixed queries per block (default
            2048).
        video_chunk (int, optional): fixed videos per block.

    Returns:
        tuple[int, int]: ``(queries, videos)`` per block.
    """
    q_step = max(1, min(query_chunk or _QUERY_CHUNK, num_queries))
    v_step = video_chunk or max(
        1, SCORE_BLOCK_NUMEL // (q_step * max(max_len, 1)))
    return q_step, v_step


def _video_block(clips: Tensor, valid: Optional[Tensor],
                 starts: Optional[Tensor], idx: Tensor, length: int):
    """``(block (v, length, H), pad (v, length, 1) or None)`` of the videos
    ``idx``: padded clips cut to ``length``, or flat rows (a view when the
    videos are stored back to back)."""
    if starts is None:
        block = clips[:, :length].index_select(0, idx.to(clips.device))
        pad = ~valid[:, :length].index_select(0, idx)
        return block, (pad.unsqueeze(-1) if bool(pad.any()) else None)
    first = starts[idx]
    num = len(idx)
    if bool((first[1:] - first[:-1] == length).all()):  # back to back
        begin = int(first[0])
        return clips[begin:begin + num * length].view(num, length, -1), None
    rows = (first[:, None] + torch.arange(length, device=first.device))
    return clips.index_select(0,
                              rows.reshape(-1).to(clips.device)).view(
                                  num, length, -1), None


def fusion_weights(branches: Sequence[str],
                   fusion_weight: Union[float,
                                        Mapping[str,
                                                float]]) -> Dict[str, float]:
    """Named weight of every branch in the fused score.

    Args:
        branches (Sequence[str]): the branches, the inheritance branch
            first for DL-DKD (``('inher', 'explore')``).
        fusion_weight (float | dict[str, float]): ``w`` of
            ``w * first + (1 - w) * second`` for two branches, or a weight
            per branch for any number of branches (keys = ``branches``).

    Returns:
        dict[str, float]: branch -> weight, in the order of ``branches``
        (``{name: 1.0}`` for a single branch given a float).
    """
    branches = list(branches)
    if isinstance(fusion_weight, Mapping):
        if sorted(fusion_weight) != sorted(branches):
            raise PRVRConfigError(
                f'fusion weights name {sorted(fusion_weight)} '
                f'but the model has branches {branches}')
        return {b: float(fusion_weight[b]) for b in branches}
    w = float(fusion_weight)
    if not 0.0 <= w <= 1.0:
        raise PRVRConfigError(f'fusion_weight must be in [0, 1], got {w}')
    if len(branches) == 1:
        return {branches[0]: 1.0}
    if len(branches) != 2:
        raise PRVRConfigError(
            f'a single fusion_weight fuses two branches; give '
            f'one weight per branch for {branches}')
    return {branches[0]: w, branches[1]: 1 - w}


def fuse(scores: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    """Fused score ``sum_b weights[b] * scores[b]`` (in the order of
    ``weights``, with the rounding of that expression).

    Works for (Q, V) score matrices and (..., L) clip curves alike; a
    position at ``-inf`` in the first branch (no clip there) stays
    ``-inf``. 2-D and larger inputs are fused in row blocks of about 8M
    elements into one output (bounded temporaries).

    Args:
        scores (dict[str, Tensor]): per branch scores of one shape.
        weights (dict[str, float]): weight of every fused branch
            (:func:`fusion_weights`).

    Returns:
        Tensor: the fused scores (the branch's own tensor for one branch
        of weight 1).
    """
    names = list(weights)
    shapes = {tuple(scores[b].shape) for b in names}
    if len(shapes) != 1:
        raise ValueError(f'branch scores differ in shape: {sorted(shapes)}')
    first = scores[names[0]]
    if len(names) == 1 and weights[names[0]] == 1:
        return first
    dtype = first.dtype
    for b in names[1:]:
        dtype = torch.promote_types(dtype, scores[b].dtype)
    out = torch.empty(first.shape, dtype=dtype, device=first.device)
    flat_out = out.view(-1, first.shape[-1]) if first.dim() else out.view(1)
    views = {b: scores[b].reshape(flat_out.shape) for b in names}
    rows = max(1, (1 << 23) // max(1, flat_out.shape[-1]))
    for start in range(0, flat_out.shape[0], rows):
        part = slice(start, start + rows)
        block = flat_out[part]
        torch.mul(views[names[0]][part], weights[names[0]], out=block)
        for b in names[1:]:
            block += views[b][part] * weights[b]
        invalid = torch.isneginf(views[names[0]][part])
        if bool(invalid.any()):
            block.masked_fill_(invalid, float('-inf'))
    return out
