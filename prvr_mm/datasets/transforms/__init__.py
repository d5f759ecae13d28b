from .functional import (average_to_fixed_length, l2_normalize,
                         uniform_feature_sampling)
from .prvr_transforms import (AlignTeacherClips, L2Normalize, PackPRVRInputs,
                              TruncateTokens, UniformClipSampling)
from .raw_video_transforms import (CheckedPyAVDecode, CheckedPyAVInit,
                                   CLIPTeacherFrames, PackPRVRRawInputs)

__all__ = [
    'average_to_fixed_length', 'l2_normalize', 'uniform_feature_sampling',
    'AlignTeacherClips', 'L2Normalize', 'PackPRVRInputs', 'TruncateTokens',
    'UniformClipSampling', 'CheckedPyAVInit', 'CheckedPyAVDecode',
    'CLIPTeacherFrames', 'PackPRVRRawInputs'
]
