"""Query-to-video similarity: clip scores max-pooled over valid clips."""
from typing import Tuple

import torch
import torch.nn.functional as F


def masked_clip_scores(query: torch.Tensor,
                       clips: torch.Tensor,
                       clip_mask: torch.Tensor,
                       normalize: bool = True
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Score every query against every clip of every video.

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
