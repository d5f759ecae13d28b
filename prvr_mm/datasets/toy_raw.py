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
import tempfile
import zlib
from typing import Dict, Optional

import numpy as np

from .readers import parse_caption_file
from .toy_videos import ensure_toy_videos

SPLITS = ('train', 'val', 'test')


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
                              seed: int = 0) -> str:
    """Write the token features of every caption of the collection.

    Args:
        root (str): data root holding ``TextData/<collection>{split}
            .caption.txt``.
        collection (str): collection name.
        dim (int): feature dimension ``Dq``.
        seed (int): seed of the word vectors.

    Returns:
        str: the h5 file written (cap_id -> (num_words, dim) float32),
        atomically replaced.
    """
    import h5py
    path = osp.join(root, toy_text_feature_file(collection))
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.tmp', dir=osp.dirname(path))
    os.close(fd)
    cache: Dict[str, np.ndarray] = {}
    try:
        with h5py.File(tmp, 'w') as f:
            for split in SPLITS:
                ann = osp.join(root, 'TextData',
                               f'{collection}{split}.caption.txt')
                for cap_id, sentence in parse_caption_file(ann):
                    words = sentence.lower().split()
                    for w in words:
                        if w not in cache:
                            cache[w] = word_vector(w, dim, seed)
                    f.create_dataset(
                        cap_id, data=np.stack([cache[w] for w in words]))
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path


def ensure_toy_raw_dataset(root: str,
                           text_dim: int = 32,
                           seed: int = 0,
                           collection: str = 'toyvid',
                           **video_kwargs) -> Optional[dict]:
    """Generate the toy raw-video dataset at ``root`` unless it exists.

    Args:
        root (str): data root.
        text_dim (int): dimension of the stand-in token features.
        seed (int): seed of the videos and of the word vectors.
        collection (str): collection name.
        **video_kwargs: other arguments of
            :func:`prvr_mm.datasets.toy_videos.make_toy_videos`
            (``num_videos``, ``size``, ``fps``, ``duration``, ...).

    Returns:
        dict | None: the video statistics when the videos were generated.
    """
    stats = ensure_toy_videos(
        root, seed=seed, collection=collection, **video_kwargs)
    if not osp.isfile(osp.join(root, toy_text_feature_file(collection))):
        write_word_token_features(root, collection, text_dim, seed)
    return stats
