"""Frame-level KL distillation from the teacher to the inheritance branch."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from ...errors import PRVRConfigError
from .precision import at_least_fp32 as _at_least_fp32


def _own_video(scores: torch.Tensor,
               query_to_video: torch.Tensor) -> torch.Tensor:
    """(Nq, L, Nv) -> (Nq, L) scores of each query's video ((Nq, L) as is)."""
    if scores.dim() == 2:
        return scores
    index = query_to_video[:, None, None].expand(-1, scores.shape[1], 1)
    return scores.gather(2, index).squeeze(2)


@MODELS.register_module()
class FrameKLDistillLoss(nn.Module):
    """KL(teacher || student) over the clips of each query's positive video.

    For query ``i`` with video ``y_i``, ``p`` = student clip scores
    ``[i, :, y_i]`` and ``q`` = teacher clip scores ``[i, :, y_i]``, both over
    the video's valid clips; the term is
    ``KL(softmax(q / T) || softmax(p / T))`` and the loss is the SUM over
    queries (as in the authors' implementation), times ``loss_weight``.

    Args:
        temperature (float): softmax temperature ``T``. Defaults to 0.2.
        loss_weight (float): multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.2,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise PRVRConfigError(
                f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, student_clip_scores: torch.Tensor,
                teacher_clip_scores: torch.Tensor, video_mask: torch.Tensor,
                query_to_video: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_clip_scores (Tensor): (Nq, L, Nv) student cosine scores,
                or (Nq, L) those of each query's own video only.
            teacher_clip_scores (Tensor): the teacher's, same layout.
            video_mask (Tensor): (Nv, L), 1 = valid clip.
            query_to_video (Tensor): (Nq,) video index of each query.

        Returns:
            Tensor: scalar loss; softmaxes and KL in at least float32
            (autocast-safe).
        """
        p = _at_least_fp32(_own_video(student_clip_scores, query_to_video))
        q = _at_least_fp32(_own_video(teacher_clip_scores, query_to_video))
        p, q = p / self.temperature, q / self.temperature
        pad = ~video_mask.bool()[query_to_video]  # (Nq, L)
        p = p.masked_fill(pad, torch.finfo(p.dtype).min)
        q = q.masked_fill(pad, torch.finfo(q.dtype).min)
        log_p = F.log_softmax(p, dim=1)
        log_q = F.log_softmax(q, dim=1)
        kl = (log_q.exp() * (log_q - log_p)).masked_fill(pad, 0).sum()
        return self.loss_weight * kl
