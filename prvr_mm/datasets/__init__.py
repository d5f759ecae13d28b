from .prvr_dataset import PRVRFeatureDataset
from .readers import (BigFileReader, H5FeatureReader, PRVRDataError,
                      build_feature_reader, parse_caption_file,
                      teacher_text_key, video_id_of)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'PRVRFeatureDataset', 'BigFileReader', 'H5FeatureReader', 'PRVRDataError',
    'build_feature_reader', 'parse_caption_file', 'teacher_text_key',
    'video_id_of'
]
