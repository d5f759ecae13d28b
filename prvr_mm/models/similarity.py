"""Query-to-video similarity: clip scores max-pooled over valid clips."""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

# F.normalize's default eps: a vector is divided by max(||x||, eps)
NORM_EPS = 1e-12


class ClipScores(NamedTuple):
    """Max-over-clips scores of every query against every video.

    Attributes:
        cos_max (Tensor): (Nq, Nv) cosine similarity, max over valid clips.
        raw_max (Tensor): (Nq, Nv) raw dot product, max over valid clips.
        clip_cos (Tensor | None): (Nq, L, Nv) cosine per clip (authors'
            index order ``[query, clip, video]``, a strided view), padded
            clips at the dtype's minimum; ``None`` unless asked.
    """
    cos_max: torch.Tensor
    raw_max: torch.Tensor
    clip_cos: Optional[torch.Tensor]


def _inv_norm(x: torch.Tensor) -> torch.Tensor:
    """``1 / max(||x||, eps)`` over the last dim (F.normalize's divisor)."""
    norm = torch.linalg.vector_norm(x, dim=-1)
    return norm.clamp_min(NORM_EPS).reciprocal()


def clip_scores(query: torch.Tensor,
                clips: torch.Tensor,
                clip_mask: torch.Tensor,
                with_clip_cos: bool = False) -> ClipScores:
    """Cosine and raw max-over-clips scores from ONE query x clip product.

    ``raw[i, j, t] = q_i . c_jt`` is computed once; the cosine follows as
    ``raw[i, j, t] * a_i * b_jt`` with ``a_i = 1 / max(||q_i||, eps)`` and
    ``b_jt = 1 / max(||c_jt||, eps)`` (``eps = 1e-12``, exactly
    ``F.normalize``'s divisor); without the per-clip tensor the max over
    clips of the cosine is taken as ``a_i * max_t(raw * b)`` (``a_i > 0``).
    Padded clips are excluded by adding the dtype's minimum, so a video with
    at least one valid clip never selects a padded one.  The maxima use
    ``torch.max`` (the gradient goes to one clip, as in the authors' code).

    Args:
        query (Tensor): (Nq, H) query vectors.
        clips (Tensor): (Nv, L, H) clip vectors.
        clip_mask (Tensor): (Nv, L), 1 = valid clip, 0 = padding.
        with_clip_cos (bool): also return the per-clip cosine tensor (the
            frame-level KL needs it). Defaults to False.

    Returns:
        ClipScores: ``(cos_max, raw_max, clip_cos)``.
    """
    num_v, length, dim = clips.shape
    flat = clips.reshape(num_v * length, dim)
    raw = torch.mm(query, flat.t()).view(-1, num_v, length)  # (Nq, Nv, L)
    pad = torch.zeros(
        num_v, length, dtype=raw.dtype,
        device=raw.device).masked_fill_(~clip_mask.bool(),
                                        torch.finfo(raw.dtype).min)
    inv_q = _inv_norm(query)[:, None]  # (Nq, 1)
    # padded clips may be zero vectors (packed encoders skip them): their
    # 1/norm (inf once 1e-12 underflows in fp16) must not reach the product
    inv_c = _inv_norm(clips).masked_fill(~clip_mask.bool(), 0)  # (Nv, L)
    raw_max = (raw + pad).max(dim=-1).values
    if not with_clip_cos:
        scaled = torch.addcmul(pad, raw, inv_c)  # raw * b, padded -> min
        return ClipScores(scaled.max(dim=-1).values * inv_q, raw_max, None)
    # raw * a * b, padded -> min (|cosine| <= 1 vanishes next to min)
    cos = torch.addcmul(pad, raw, inv_q[:, :, None] * inv_c)
    return ClipScores(cos.max(dim=-1).values, raw_max, cos.transpose(1, 2))


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
