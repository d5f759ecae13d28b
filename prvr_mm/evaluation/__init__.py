from .functional import gt_ranks, retrieval_metrics
from .metrics import PRVRMetric
from .scoring import fuse, fusion_weights, max_over_clips

__all__ = [
    'max_over_clips', 'fuse', 'fusion_weights', 'gt_ranks',
    'retrieval_metrics', 'PRVRMetric'
]
