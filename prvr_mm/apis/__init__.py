from .inference import (clip_cosines, encode_split, fusion_weight_of,
                        init_model, query_curves)
from .train import test_best_checkpoint

__all__ = [
    'clip_cosines', 'encode_split', 'fusion_weight_of', 'init_model',
    'query_curves', 'test_best_checkpoint'
]
