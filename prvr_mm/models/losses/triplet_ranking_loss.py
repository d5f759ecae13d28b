"""Bidirectional triplet ranking loss over a query x video score matrix."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from ...errors import PRVRConfigError
from .precision import at_least_fp32 as _at_least_fp32


@MODELS.register_module()
class TripletRankingLoss(nn.Module):
    """Hinge loss with hard negatives in both directions (query->video and
    video->query), for several queries per video.

    * video->query, for each video ``j``: the positive is the MEAN score of
      its queries, the negative the MAX score of the other videos' queries;
    * query->video, for each query ``i``: the negative is drawn uniformly
      among the ``hard_pool_size`` highest-scored other videos (the hardest
      one when ``hard_pool_size=1``), or among all other videos when
      ``hard_negative=False``.

    ``loss = sum_i t2v_i / Nq + sum_j v2t_j / Nv``, scaled by ``loss_weight``.

    Args:
        margin (float): hinge margin. Defaults to 0.2.
        hard_negative (bool): mine hard negatives. Defaults to True.
        hard_pool_size (int): pool of hardest videos to sample the
            query->video negative from. Defaults to 20.
        loss_weight (float): multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 margin: float = 0.2,
                 hard_negative: bool = True,
                 hard_pool_size: int = 20,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if hard_pool_size < 1:
            raise PRVRConfigError(f'hard_pool_size must be >= 1, '
                                  f'got {hard_pool_size}')
        self.margin = margin
        self.hard_negative = hard_negative
        self.hard_pool_size = hard_pool_size
        self.loss_weight = loss_weight

    def forward(self, scores: torch.Tensor,
                query_to_video: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            scores (Tensor): (Nq, Nv) cosine scores.
            query_to_video (Tensor): (Nq,) index of each query's video.

        Returns:
            Tensor: scalar loss (at least float32).
        """
        scores = _at_least_fp32(scores)
        num_q, num_v = scores.shape
        rows = torch.arange(num_q, device=scores.device)
        positive = F.one_hot(query_to_video, num_v).bool()  # (Nq, Nv)

        # video -> query
        counts = positive.sum(0)
        pos_v = (scores * positive).sum(0) / counts.clamp(min=1)
        if self.hard_negative:
            neg_v = scores.masked_fill(positive, float('-inf')).max(0).values
        else:
            neg_v = self._random_other(scores.t(), positive.t())
        v2t = (self.margin + neg_v - pos_v).clamp(min=0)
        v2t = torch.where(counts > 0, v2t, torch.zeros_like(v2t))

        # query -> video
        pos_q = scores[rows, query_to_video]
        neg_q = scores[rows, self.sample_query_negatives(scores, positive)]
        t2v = (self.margin + neg_q - pos_q).clamp(min=0)

        loss = t2v.sum() / num_q + v2t.sum() / num_v
        return self.loss_weight * loss

    def sample_query_negatives(self, scores: torch.Tensor,
                               positive: torch.Tensor) -> torch.Tensor:
        """Draw the negative video of every query.

        Videos are ranked by score with the positive first (rank 0); the
        negative is drawn uniformly from ranks ``1 .. hard_pool_size`` (all
        other videos when ``hard_negative=False``) with one
        ``torch.randint(1, pool, (Nq,))`` call, like the authors' code, so
        the same seed draws the same negatives.

        Args:
            scores (Tensor): (Nq, Nv) scores.
            positive (Tensor): (Nq, Nv) bool, True at each query's video.

        Returns:
            Tensor: (Nq,) int64 video index of each query's negative.
        """
        num_q, num_v = scores.shape
        if num_v < 2:
            raise PRVRConfigError(
                'the query->video ranking loss needs at least 2 videos in a '
                f'batch, got {num_v} (a last batch of one video? set '
                'train_dataloader.drop_last=True)')
        pool = min(1 +
                   self.hard_pool_size, num_v) if self.hard_negative else num_v
        ranked = scores.detach().masked_fill(positive, float('inf'))
        ranked = ranked.topk(pool, dim=1).indices  # rank 0 = the positive
        pick = torch.randint(1, pool, (num_q, ), device=scores.device)
        return ranked.gather(1, pick[:, None]).squeeze(1)

    @staticmethod
    def _random_other(scores: torch.Tensor,
                      positive: torch.Tensor) -> torch.Tensor:
        """Per row, the score of a uniformly drawn non-positive column."""
        noise = torch.rand_like(scores).masked_fill(positive, -1.0)
        return scores.gather(1, noise.argmax(1, keepdim=True)).squeeze(1)
