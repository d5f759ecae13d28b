from .functional import (average_to_fixed_length, l2_normalize,
                         uniform_feature_sampling)
from .prvr_transforms import (AlignTeacherClips, L2Normalize, PackPRVRInputs,
                              TruncateTokens, UniformClipSampling)

__all__ = [
    'average_to_fixed_length', 'l2_normalize', 'uniform_feature_sampling',
    'AlignTeacherClips', 'L2Normalize', 'PackPRVRInputs', 'TruncateTokens',
    'UniformClipSampling'
]
