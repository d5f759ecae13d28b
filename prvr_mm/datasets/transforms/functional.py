"""Clip resampling helpers (vectorised), equal to the authors' helpers."""
from typing import Optional, Tuple

import numpy as np
import torch


def _segment_bounds(num: int, out_len: int) -> Tuple[np.ndarray, np.ndarray]:
    idx = np.round(np.arange(out_len + 1, dtype=np.float64) / out_len * num)
    idx = np.minimum(idx.astype(np.int64), num - 1)
    return idx[:-1], idx[1:]


def segment_bounds(num: int, out_len: int) -> Tuple[np.ndarray, np.ndarray]:
    """First and end (exclusive) input row of each of the ``out_len`` rows
    that :func:`uniform_feature_sampling` / :func:`average_to_fixed_length`
    make of ``num`` rows (an empty segment takes its first row).

    Returns:
        tuple[np.ndarray, np.ndarray]: (out_len,) int64 starts and ends.
    """
    return _segment_bounds(num, out_len)


def _segment_means(feats: np.ndarray, starts: np.ndarray,
                   ends: np.ndarray) -> np.ndarray:
    """Mean of ``feats[s:e]`` per segment, ``feats[s]`` when it is empty.

    The segments are consecutive (``ends[i] == starts[i + 1]``, ``starts[0]
    == 0``) and the last one ends at ``T - 1`` (the authors' clipped
    bounds).  The sums are one ``index_add_`` of the rows into their
    segments: each row added once, in row order, like a sequential sum of
    the slice (several times faster than ``np.add.reduceat`` on (T, 3072)
    rows, the same float32 result).
    """
    width = ends - starts
    rows = torch.from_numpy(feats)
    sums = rows.new_zeros((len(starts), ) + rows.shape[1:])
    seg = torch.from_numpy(np.repeat(np.arange(len(starts)), width))
    sums.index_add_(0, seg, rows[starts[0]:ends[-1]])
    sums /= torch.from_numpy(np.maximum(width, 1).astype(
        feats.dtype)).view((-1, ) + (1, ) * (rows.dim() - 1))
    empty = np.flatnonzero(width <= 0)
    if len(empty):
        sums[torch.from_numpy(empty)] = rows[torch.from_numpy(starts[empty])]
    return sums.numpy()


def uniform_feature_sampling(feats: np.ndarray,
                             max_len: Optional[int]) -> np.ndarray:
    """Average (T, D) features into at most ``max_len`` uniform segments.

    Identity when ``T <= max_len`` (or ``max_len`` is None); otherwise row
    ``i`` is the mean of ``feats[b_i:b_{i+1}]`` with
    ``b = round(linspace(0, T, max_len + 1))`` clipped to ``T - 1``
    (``feats[b_i]`` when that slice is empty).

    Args:
        feats (np.ndarray): (T, D) features.
        max_len (int, optional): the maximum number of rows.

    Returns:
        np.ndarray: (min(T, max_len), D).
    """
    num = feats.shape[0]
    if max_len is None or num <= max_len:
        return feats
    return _segment_means(feats, *_segment_bounds(num, max_len))


def average_to_fixed_length(feats: np.ndarray, length: int) -> np.ndarray:
    """Like :func:`uniform_feature_sampling` but always ``length`` rows
    (short inputs are up-sampled by repetition).

    Args:
        feats (np.ndarray): (T, D) features.
        length (int): number of output rows.

    Returns:
        np.ndarray: (length, D).
    """
    if feats.shape[0] == length:  # one row per segment: the rows themselves
        return feats
    return _segment_means(feats, *_segment_bounds(feats.shape[0], length))


def l2_normalize(feats: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """``x / (||x||_2 + eps)`` along the last dim (zero rows stay zero)."""
    norm = np.sqrt(np.einsum('...d,...d->...', feats, feats))[..., None]
    return feats / (norm + np.asarray(eps, dtype=feats.dtype))
