from .ann import ClipANN, fused_vectors
from .collection import FeatureCollection, find_video_files, split_collection
from .inference import clip_cosines, encode_split, init_model, query_curves
from .inferencers import PRVRInferencer
from .search_index import SearchIndex, SearchIndexError
from .train import test_best_checkpoint

__all__ = [
    'ClipANN', 'fused_vectors', 'FeatureCollection', 'find_video_files',
    'split_collection', 'clip_cosines', 'encode_split', 'init_model',
    'query_curves', 'PRVRInferencer', 'SearchIndex', 'SearchIndexError',
    'test_best_checkpoint'
]
