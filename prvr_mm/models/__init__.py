from .data_preprocessors import *  # noqa: F401,F403
from .frontends import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .similarity import ClipScores, clip_scores, masked_clip_scores
from .students import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
from .text_encoders import *  # noqa: F401,F403

__all__ = ['ClipScores', 'clip_scores', 'masked_clip_scores']
