from .functional import (chunked_max_scores, fuse_scores, gt_ranks,
                         retrieval_metrics)
from .metrics import PRVRMetric

__all__ = [
    'chunked_max_scores', 'fuse_scores', 'gt_ranks', 'retrieval_metrics',
    'PRVRMetric'
]
