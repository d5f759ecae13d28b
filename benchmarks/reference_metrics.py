"""Straightforward per-query reference of the PRVR retrieval metrics.

The evaluation as the DL-DKD code base does it (numpy ``argsort`` per query
and a Python AP loop): the reference that the tests compare
:func:`prvr_mm.evaluation.functional.retrieval_metrics` with, and the
baseline of ``benchmarks/eval_scale.py``.  Not part of the package.
"""
from typing import Dict

import numpy as np


def baseline_retrieval_metrics(scores: np.ndarray,
                               positives: np.ndarray) -> Dict[str, float]:
    """Per-query numpy reference of :func:`retrieval_metrics`.

    The straightforward evaluation of the DL-DKD code base, kept as the
    reference for tests and benchmarks: for every query, ``np.argsort`` the
    negated scores and locate each positive in the ranking with
    ``np.where`` (best one for R@k / MedR / MnR); then, in a second
    per-query pass (the separate mAP routine), rank again, lay the 0/1
    relevance labels of the first positive out in ranking order as a Python
    list and walk it in a Python loop accumulating precision at each hit.
    Its cost is ``O(Q * V log V)`` in numpy plus ``O(Q * V)`` Python steps.
    Ties are broken by ``np.argsort``'s (unstable) order.

    Args:
        scores (np.ndarray): (Q, V) scores, higher = better.
        positives (np.ndarray): (Q, P) int relevant video indices padded
            with -1; column 0 must be valid. A (Q,) array is one positive per
            query.

    Returns:
        dict[str, float]: ``R@1``, ``R@5``, ``R@10``, ``R@100``, ``SumR``,
        ``MedR``, ``MnR``, ``mAP``.
    """
    scores = np.asarray(scores)
    positives = np.asarray(positives)
    if positives.ndim == 1:
        positives = positives[:, None]
    num_queries = scores.shape[0]

    best_ranks = np.zeros(num_queries, dtype=np.int64)
    for i in range(num_queries):
        ranking = np.argsort(-scores[i])
        found = [
            np.where(ranking == video)[0][0] + 1 for video in positives[i]
            if video >= 0
        ]
        best_ranks[i] = min(found)

    num_videos = scores.shape[1]
    average_precisions = np.zeros(num_queries, dtype=np.float64)
    for i in range(num_queries):
        ranking = np.argsort(-scores[i])
        labels = [0] * num_videos
        labels[int(positives[i, 0])] = 1
        ordered = [labels[video] for video in ranking]
        hits, precision_sum = 0, 0.0
        for position, label in enumerate(ordered, 1):
            if label:
                hits += 1
                precision_sum += hits / position
        average_precisions[i] = precision_sum / hits if hits else 0.0

    metrics: Dict[str, float] = {}
    for k in (1, 5, 10, 100):
        metrics[f'R@{k}'] = 100.0 * len(
            np.where(best_ranks <= k)[0]) / num_queries
    metrics['SumR'] = float(metrics['R@1'] + metrics['R@5'] + metrics['R@10'] +
                            metrics['R@100'])
    metrics['MedR'] = float(np.median(best_ranks))
    metrics['MnR'] = float(np.mean(best_ranks))
    metrics['mAP'] = float(np.mean(average_precisions))
    return metrics
