from .layout import (COLLECTIONS, collection_files, collection_paths,
                     teacher_text_key, video_id_of, write_bigfile,
                     write_captions, write_h5, write_meta)
from .prvr_dataset import PRVRFeatureDataset
from .raw_video_dataset import PRVRRawVideoDataset
from .readers import (BigFileReader, H5FeatureReader, PRVRDataError,
                      build_feature_reader, parse_caption_file)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'PRVRFeatureDataset', 'PRVRRawVideoDataset', 'BigFileReader',
    'H5FeatureReader', 'PRVRDataError', 'build_feature_reader',
    'parse_caption_file', 'teacher_text_key', 'video_id_of', 'COLLECTIONS',
    'collection_files', 'collection_paths', 'write_bigfile', 'write_captions',
    'write_h5', 'write_meta'
]
