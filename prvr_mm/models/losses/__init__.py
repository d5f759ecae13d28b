from .infonce_loss import InfoNCELoss, hard_infonce, soft_infonce
from .kl_distill_loss import FrameKLDistillLoss
from .triplet_ranking_loss import TripletRankingLoss

__all__ = [
    'InfoNCELoss', 'hard_infonce', 'soft_infonce', 'FrameKLDistillLoss',
    'TripletRankingLoss'
]
