"""Query-to-video similarity: clip scores max-pooled over valid clips."""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

# F.normalize's default eps: a vector is divided by max(||x||, eps)
NORM_EPS = 1e-12
# score only the valid clips when at most this fraction of positions is valid
PACK_RATIO = 0.9


class ClipScores(NamedTuple):
    """Max-over-clips scores of every query against every video.

    Attributes:
        cos_max (Tensor): (Nq, Nv) cosine similarity, max over valid clips.
        raw_max (Tensor): (Nq, Nv) raw dot product, max over valid clips.
        clip_cos (Tensor | None): (Nq, L, Nv) cosine per clip (authors'
            index order ``[query, clip, video]``, a strided view), padded
            clips at the dtype's minimum; ``None`` unless asked.
        pos_cos (Tensor | None): (Nq, L) cosine per clip of each query's
            own video (``clip_cos[i, :, y_i]``; padded clips 0); ``None``
            unless ``query_to_video`` is given.
    """
    cos_max: torch.Tensor
    raw_max: torch.Tensor
    clip_cos: Optional[torch.Tensor]
    pos_cos: Optional[torch.Tensor] = None


def _inv_norm(x: torch.Tensor) -> torch.Tensor:
    """``1 / max(||x||, eps)`` over the last dim (F.normalize's divisor)."""
    norm = torch.linalg.vector_norm(x, dim=-1)
    return norm.clamp_min(NORM_EPS).reciprocal()


class _ClipMaxima(torch.autograd.Function):
    """Max over clips of ``raw = q . c`` and of ``raw * b`` from one product,
    with the gradient of a max: one clip per (query, video) pair.

    The (Nq, Nv, L) score tensor lives only inside the forward; the backward
    never builds it: the gradient of each maximum reaches the one clip that
    won, so ``dq`` and ``dc`` are sums over ``2 Nv (+ L)`` clips per query
    (two ``embedding_bag`` sums) instead of two dense (Nq x Nv L x H)
    products over a mostly zero gradient.
    """

    @staticmethod
    def forward(ctx, query: torch.Tensor, flat: torch.Tensor,
                inv_c: torch.Tensor, valid: torch.Tensor,
                positive: Optional[torch.Tensor]):
        num_v, length = valid.shape
        num_q = query.shape[0]
        flat_valid = valid.reshape(-1)
        index = flat_valid.nonzero().squeeze(1)
        if len(index) <= PACK_RATIO * len(flat_valid):  # valid clips only
            part = torch.mm(flat.index_select(0, index), query.t())
            raw = part.new_empty(num_v * length,
                                 num_q).index_copy_(0, index, part)
            del part  # padded clips only at the dtype's minimum
            raw.index_fill_(0, (~flat_valid).nonzero().squeeze(1),
                            torch.finfo(raw.dtype).min)
        else:
            raw = torch.mm(flat, query.t())
            raw.masked_fill_(~flat_valid[:, None], torch.finfo(raw.dtype).min)
        # (Nv, L, Nq): scores per clip, padded clips at the dtype's minimum
        raw = raw.view(num_v, length, num_q)
        pos = raw.new_empty(0)
        if positive is not None:  # (Nq, L) scores of each query's video
            rows = torch.arange(num_q, device=raw.device)
            pos = raw[positive, :, rows]
        pad = torch.zeros(
            num_v, length, 1, dtype=raw.dtype,
            device=raw.device).masked_fill_(~valid[..., None],
                                            torch.finfo(raw.dtype).min)
        # raw * b with b = 0 at padded clips: min * 0 + min stays the minimum
        scaled_max, s_idx = torch.addcmul(pad, raw, inv_c[..., None]).max(1)
        raw_at_s = raw.gather(1, s_idx[:, None]).squeeze(1)
        raw_max, r_idx = raw.max(1)
        r_idx, s_idx, raw_at_s = r_idx.t(), s_idx.t(), raw_at_s.t()
        ctx.save_for_backward(query, flat, inv_c, r_idx, s_idx, raw_at_s,
                              positive)
        return raw_max.t(), scaled_max.t(), pos

    @staticmethod
    def backward(ctx, g_raw: torch.Tensor, g_scaled: torch.Tensor,
                 g_pos: torch.Tensor):
        query, flat, inv_c, r_idx, s_idx, raw_at_s, positive = \
            ctx.saved_tensors
        num_q, num_v = r_idx.shape
        length = inv_c.shape[1]
        device = r_idx.device
        dtype = torch.promote_types(
            torch.promote_types(g_raw.dtype, query.dtype), torch.float32)
        start = torch.arange(num_v, device=device) * length
        s_cols = start + s_idx  # (Nq, Nv) flat clip index of each winner
        inv_c_flat = inv_c.reshape(-1).to(dtype)
        cols = [start + r_idx, s_cols]
        weights = [g_raw.to(dtype), g_scaled.to(dtype) * inv_c_flat[s_cols]]
        if positive is not None:
            cols.append(positive[:, None] * length +
                        torch.arange(length, device=device))
            weights.append(g_pos.to(dtype))
        cols, weights = torch.cat(cols, 1), torch.cat(weights, 1)
        d_query = d_flat = d_inv_c = None
        if ctx.needs_input_grad[0]:  # dq_i = sum_k w_ik c_(col_ik)
            d_query = F.embedding_bag(
                cols, flat.to(dtype), per_sample_weights=weights, mode='sum')
        if ctx.needs_input_grad[1]:  # dc_k = sum_(i: col_ik = k) w_ik q_i
            flat_cols = cols.reshape(-1)
            order = flat_cols.argsort()
            counts = torch.bincount(flat_cols, minlength=flat.shape[0])
            offsets = torch.cumsum(counts, 0) - counts
            rows = torch.arange(
                num_q, device=device).repeat_interleave(cols.shape[1])
            d_flat = F.embedding_bag(
                rows[order],
                query.to(dtype),
                offsets,
                per_sample_weights=weights.reshape(-1)[order],
                mode='sum')
        if ctx.needs_input_grad[2]:  # d(raw * b)/db = raw at the winner
            d_inv_c = torch.zeros(
                num_v * length, dtype=dtype,
                device=device).index_add_(0, s_cols.reshape(-1),
                                          (g_scaled.to(dtype) *
                                           raw_at_s.to(dtype)).reshape(-1))
            d_inv_c = d_inv_c.view(num_v, length)
        return d_query, d_flat, d_inv_c, None, None


def clip_scores(query: torch.Tensor,
                clips: torch.Tensor,
                clip_mask: torch.Tensor,
                with_clip_cos: bool = False,
                query_to_video: Optional[torch.Tensor] = None) -> ClipScores:
    """Cosine and raw max-over-clips scores from ONE query x clip product.

    ``raw[i, j, t] = q_i . c_jt`` is computed once; the cosine follows as
    ``raw[i, j, t] * a_i * b_jt`` with ``a_i = 1 / max(||q_i||, eps)`` and
    ``b_jt = 1 / max(||c_jt||, eps)`` (``eps = 1e-12``, exactly
    ``F.normalize``'s divisor); the max over clips of the cosine is taken
    as ``a_i * max_t(raw * b)`` (``a_i > 0``).  Padded clips are excluded
    by adding the dtype's minimum, so a video with at least one valid clip
    never selects a padded one.  The maxima pass their gradient to one clip
    each, as ``torch.max`` does in the authors' code; without
    ``with_clip_cos`` the (Nq, Nv, L) tensor is never kept nor
    differentiated (:class:`_ClipMaxima`).

    Args:
        query (Tensor): (Nq, H) query vectors.
        clips (Tensor): (Nv, L, H) clip vectors.
        clip_mask (Tensor): (Nv, L), 1 = valid clip, 0 = padding.
        with_clip_cos (bool): also return the per-clip cosine tensor of
            every pair. Defaults to False.
        query_to_video (Tensor, optional): (Nq,) video index of each query;
            when given, the per-clip cosine of each query's own video
            (``pos_cos``, what the frame-level KL needs) is returned.

    Returns:
        ClipScores: ``(cos_max, raw_max, clip_cos, pos_cos)``.
    """
    num_v, length, dim = clips.shape
    valid = clip_mask.bool()
    inv_q = _inv_norm(query)[:, None]  # (Nq, 1)
    # padded clips may be zero vectors (packed encoders skip them): their
    # 1/norm (inf once 1e-12 underflows in fp16) must not reach the product
    inv_c = _inv_norm(clips).masked_fill(~valid, 0)  # (Nv, L)
    if with_clip_cos:
        raw = torch.mm(query, clips.reshape(num_v * length, dim).t())
        raw = raw.view(-1, num_v, length)  # (Nq, Nv, L)
        pad = torch.zeros(
            num_v, length, dtype=raw.dtype,
            device=raw.device).masked_fill_(~valid,
                                            torch.finfo(raw.dtype).min)
        raw_max = (raw + pad).max(dim=-1).values
        # raw * a * b, padded -> min (|cosine| <= 1 vanishes next to min)
        cos = torch.addcmul(pad, raw, inv_q[:, :, None] * inv_c)
        pos_cos = None
        if query_to_video is not None:
            rows = torch.arange(len(query_to_video), device=raw.device)
            pos_cos = cos[rows,
                          query_to_video].masked_fill(~valid[query_to_video],
                                                      0)
        return ClipScores(
            cos.max(dim=-1).values, raw_max, cos.transpose(1, 2), pos_cos)
    raw_max, scaled_max, pos = _ClipMaxima.apply(
        query, clips.reshape(num_v * length, dim), inv_c, valid,
        query_to_video)
    pos_cos = None
    if query_to_video is not None:
        pos_cos = pos * inv_q * inv_c[query_to_video]
    return ClipScores(scaled_max * inv_q, raw_max, None, pos_cos)


def masked_clip_scores(query: torch.Tensor,
                       clips: torch.Tensor,
                       clip_mask: torch.Tensor,
                       normalize: bool = True
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Score every query against every clip of every video.

    The one-score-at-a-time form; :func:`clip_scores` gives the cosine and
    raw maxima from one product.

    Args:
        query (Tensor): (Nq, H) query vectors.
        clips (Tensor): (Nv, L, H) clip vectors.
        clip_mask (Tensor): (Nv, L), 1 = valid clip, 0 = padding.
        normalize (bool): cosine similarity when ``True``, raw dot product
            otherwise. Defaults to True.

    Returns:
        tuple[Tensor, Tensor]: ``(max_scores, clip_scores)`` with
        ``max_scores`` (Nq, Nv) the max over valid clips and ``clip_scores``
        (Nq, L, Nv) (authors' index order ``[query, clip, video]``), padded
        clips filled with the dtype's minimum.
    """
    if normalize:
        query = F.normalize(query, dim=-1)
        clips = F.normalize(clips, dim=-1)
    scores = torch.einsum('qh,vlh->qlv', query, clips)
    pad = ~clip_mask.bool().t().unsqueeze(0)  # (1, L, Nv)
    scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
    return scores.max(dim=1).values, scores
