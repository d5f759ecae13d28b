"""Toy raw-video PRVR dataset: the tiny videos and captions of
:mod:`prvr_mm.datasets.toy_videos` plus stand-in query token features.

The student's query side reads per-token features from an h5 file (RoBERTa
in the real collections, written by ``tools/data/extract_text_features.py``).
So that a raw-video toy config trains on a fresh machine without model
downloads, :func:`ensure_toy_raw_dataset` also writes
``TextData/hashword_<collection>_query_feat.hdf5``: every word of a caption
maps to one fixed random unit vector (seeded by the word itself), one row
per word -- the words, not a language model, carry the meaning.
"""
import os
import os.path as osp
import zlib
from typing import Dict, Optional

import numpy as np

from .layout import SPLITS, collection_files, write_h5
from .readers import parse_caption_file
from .toy_videos import ensure_toy_videos


def toy_text_feature_file(collection: str = 'toyvid') -> str:
    """Path of the stand-in token features, relative to the data root."""
    return f'TextData/hashword_{collection}_query_feat.hdf5'


def word_vector(word: str, dim: int, seed: int = 0) -> np.ndarray:
    """The fixed (dim,) float32 unit vector of ``word``."""
    rng = np.random.default_rng([seed, zlib.crc32(word.encode('utf-8'))])
    vec = rng.standard_normal(dim)
    return (vec / np.linalg.norm(vec)).astype(np.float32)


def write_word_token_features(root: str,
                              collection: str = 'toyvid',
                              dim: int = 32,
                              seed: int = 0,
                              text_feature: Optional[str] = None) -> str:
    """Write the token features of every caption of the collection.

    Args:
        root (str): data root holding ``TextData/<collection>{split}
            .caption.txt``.
        collection (str): collection name.
        dim (int): feature dimension ``Dq``.
        seed (int): seed of the word vectors.
        text_feature (str, optional): the h5 file, relative to ``root``;
            defaults to :func:`toy_text_feature_file`.

    Returns:
        str: the h5 file written (cap_id -> (num_words, dim) float32; written
        next to it, then renamed, so that a reader never sees half a file).
    """
    files = collection_files(collection, visual_feature='')
    cache: Dict[str, np.ndarray] = {}
    feats = {}
    for split in SPLITS:
        ann = osp.join(root, files[f'caption_{split}'])
        for cap_id, sentence in parse_caption_file(ann):
            words = sentence.lower().split()
            for w in words:
                if w not in cache:
                    cache[w] = word_vector(w, dim, seed)
            feats[cap_id] = np.stack([cache[w] for w in words])
    path = osp.join(root, text_feature or toy_text_feature_file(collection))
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        write_h5(tmp, feats)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def ensure_toy_raw_dataset(root: str,
                           text_dim: int = 32,
                           seed: int = 0,
                           collection: str = 'toyvid',
                           text_feature: Optional[str] = None,
                           **video_kwargs) -> Optional[dict]:
    """Generate the toy raw-video dataset at ``root`` unless it exists.

    Args:
        root (str): data root.
        text_dim (int): dimension of the stand-in token features.
        seed (int): seed of the videos and of the word vectors.
        collection (str): collection name.
        text_feature (str, optional): where the token features go, relative
            to ``root`` (the dataset's ``text_feature``); defaults to
            :func:`toy_text_feature_file`.
        **video_kwargs: other arguments of
            :func:`prvr_mm.datasets.toy_videos.make_toy_videos`
            (``num_videos``, ``size``, ``fps``, ``duration``, ...).

    Returns:
        dict | None: the video statistics when the videos were generated.
    """
    stats = ensure_toy_videos(
        root, seed=seed, collection=collection, **video_kwargs)
    text_feature = text_feature or toy_text_feature_file(collection)
    if not osp.isfile(osp.join(root, text_feature)):
        write_word_token_features(root, collection, text_dim, seed,
                                  text_feature)
    return stats
