"""What a user runs with a trained PRVR model outside the Runner: search
(index a collection, search it with sentences) and analysis (embed a split,
look at one query's similarity over time)."""
from .analysis import clip_cosines, encode_split, query_curves
from .ann import ClipANN, fused_vectors
from .collection import FeatureCollection, find_video_files, split_collection
from .fingerprint import check_fingerprint, model_fingerprint
from .index_io import INDEX_FORMAT, INDEX_VERSION, load_index, save_index
from .indexing import VideoIndexer, index_collection
from .inferencers import PRVRInferencer
from .model import init_model
from .pipelines import search_pipelines, split_test_pipeline
from .queries import QueryTokenizer
from .search import search_videos, video_scores
from .search_index import SearchIndex, SearchIndexError
from .visualization import draw_search_result

__all__ = [
    'clip_cosines', 'encode_split', 'query_curves', 'ClipANN', 'fused_vectors',
    'FeatureCollection', 'find_video_files', 'split_collection',
    'check_fingerprint', 'model_fingerprint', 'INDEX_FORMAT', 'INDEX_VERSION',
    'load_index', 'save_index', 'VideoIndexer', 'index_collection',
    'PRVRInferencer', 'init_model', 'search_pipelines', 'split_test_pipeline',
    'QueryTokenizer', 'search_videos', 'video_scores', 'SearchIndex',
    'SearchIndexError', 'draw_search_result'
]
