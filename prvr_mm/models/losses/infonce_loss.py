"""InfoNCE over unnormalised max scores, with DL-DKD++ soft targets."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from ..batch_order import num_hard_rows
from .precision import at_least_fp32 as _at_least_fp32


def _video_has_query(one_hot: torch.Tensor) -> torch.Tensor:
    return one_hot.sum(0) > 0


def hard_infonce(scores: torch.Tensor,
                 query_to_video: torch.Tensor) -> torch.Tensor:
    """Bidirectional InfoNCE with one-hot targets (no temperature).

    ``t2v_i = lse_j U[i, :] - U[i, y_i]`` and
    ``v2t_j = lse_i U[:, j] - lse_{i: y_i = j} U[i, j]``; the loss is
    ``mean_i t2v_i + mean_j v2t_j`` (videos without a query count as 0).

    Computed in at least float32 (autocast-safe).

    Args:
        scores (Tensor): (Nq, Nv) unnormalised max scores ``U``.
        query_to_video (Tensor): (Nq,) video index of each query.

    Returns:
        Tensor: scalar loss (at least float32).
    """
    scores = _at_least_fp32(scores)
    num_q, num_v = scores.shape
    positive = F.one_hot(query_to_video, num_v).bool()
    t2v = scores.logsumexp(1) - scores.gather(
        1, query_to_video[:, None]).squeeze(1)
    cols = scores.t()
    pos_lse = cols.masked_fill(~positive.t(), float('-inf')).logsumexp(1)
    has_q = _video_has_query(positive)
    v2t = torch.where(has_q,
                      cols.logsumexp(1) - pos_lse, torch.zeros_like(pos_lse))
    return t2v.mean() + v2t.mean()


def soft_infonce(scores: torch.Tensor, query_to_video: torch.Tensor,
                 soft_source: torch.Tensor, alpha: float,
                 beta: float) -> torch.Tensor:
    """DL-DKD++ InfoNCE with dynamic soft targets.

    The first ``floor(alpha * Nq)`` query rows and ``floor(alpha * Nv)``
    video rows (batch order) keep one-hot targets (:func:`num_hard_rows`;
    the order is the contract of :mod:`prvr_mm.models.batch_order`, made by
    :class:`PRVRDataPreprocessor`); the remaining rows use
    ``(1 - beta) * softmax(T) + beta * onehot``, with ``T`` the soft-target
    source (teacher scores, or the branch's own scores).  The loss is
    ``alpha * hard_part + (1 - alpha) * soft_part``, each part the sum of a
    query->video and a video->query term averaged over its rows.

    Args:
        scores (Tensor): (Nq, Nv) unnormalised max scores ``U``.
        query_to_video (Tensor): (Nq,) video index of each query.
        soft_source (Tensor): (Nq, Nv) scores ``T`` giving the soft targets
            (not detached: gradients flow where it requires them).
        alpha (float): fraction of rows with hard targets, in [0, 1].
        beta (float): weight of the one-hot target in the soft rows.

    Returns:
        Tensor: scalar loss, computed in at least float32.
    """
    scores, soft_source = _at_least_fp32(scores), _at_least_fp32(soft_source)
    num_q, num_v = scores.shape
    hard_q, hard_v = num_hard_rows(num_q, alpha), num_hard_rows(num_v, alpha)
    one_hot = F.one_hot(query_to_video, num_v).to(scores.dtype)

    def _targets(eye: torch.Tensor, source: torch.Tensor,
                 n_hard: int) -> torch.Tensor:
        soft = ((1 - beta) * source.softmax(dim=1) + beta * eye).clamp(min=0)
        is_soft = torch.arange(eye.shape[0], device=eye.device) >= n_hard
        return torch.where(is_soft[:, None], soft, eye)

    target_q = _targets(one_hot, soft_source, hard_q)
    target_v = _targets(one_hot.t(), soft_source.t(), hard_v)

    t2v = (target_q * (scores.logsumexp(1, keepdim=True) - scores)).sum(1)
    cols = scores.t()
    v2t = cols.logsumexp(1) - (torch.log(target_v + 1e-12) + cols).logsumexp(1)

    zero = scores.new_zeros(())
    hard = (t2v[:hard_q].sum() / hard_q +
            v2t[:hard_v].sum() / hard_v) if hard_q and hard_v else zero
    n_soft_q, n_soft_v = num_q - hard_q, num_v - hard_v
    soft = (t2v[hard_q:].sum() / n_soft_q +
            v2t[hard_v:].sum() / n_soft_v) if n_soft_q and n_soft_v else zero
    return alpha * hard + (1 - alpha) * soft


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    """Registered wrapper of :func:`hard_infonce` / :func:`soft_infonce`.

    Args:
        loss_weight (float): multiplier (0.04 in DL-DKD). Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                scores: torch.Tensor,
                query_to_video: torch.Tensor,
                soft_source: Optional[torch.Tensor] = None,
                alpha: float = 1.0,
                beta: float = 1.0) -> torch.Tensor:
        """Hard targets when ``soft_source`` is None, soft targets otherwise.

        Args:
            scores (Tensor): (Nq, Nv) unnormalised max scores.
            query_to_video (Tensor): (Nq,) video index of each query.
            soft_source (Tensor, optional): (Nq, Nv) soft-target scores.
            alpha (float): hard-row fraction (soft mode). Defaults to 1.0.
            beta (float): one-hot weight in soft rows. Defaults to 1.0.

        Returns:
            Tensor: scalar loss times ``loss_weight``.
        """
        if soft_source is None:
            loss = hard_infonce(scores, query_to_video)
        else:
            loss = soft_infonce(scores, query_to_video, soft_source, alpha,
                                beta)
        return self.loss_weight * loss
