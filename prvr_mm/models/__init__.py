from .data_preprocessors import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .similarity import masked_clip_scores
from .students import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
from .text_encoders import *  # noqa: F401,F403

__all__ = ['masked_clip_scores']
