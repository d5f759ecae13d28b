"""The batch-order contract of DL-DKD++ soft targets.

DL-DKD++ gives soft InfoNCE targets to the LAST rows of a training batch:
the first ``floor(alpha * N)`` query rows (and video rows) keep one-hot
targets, the remaining ones get soft targets.  Which queries and videos
those are is decided by the batch order, and the authors' collate orders
the videos of a batch by their number of queries, descending (a stable
sort, so ties keep the sampler's order); the queries follow their videos.

Both sides name this module: :class:`PRVRDataPreprocessor` makes the order
with :func:`collate_order`, and :func:`~prvr_mm.models.losses.soft_infonce`
splits the rows with :func:`num_hard_rows`.  With
``DualStudentRecognizer(gather_negatives=True)``, :class:`~prvr_mm.models.
students.global_batch.GlobalBatch` applies :func:`collate_order` to the
global batch of all ranks instead.
"""
import math
from typing import List, Sequence


def collate_order(query_counts: Sequence[int]) -> List[int]:
    """Order of the videos of a training batch (the authors' collate).

    Args:
        query_counts (Sequence[int]): number of queries of every video, in
            sampler order.

    Returns:
        list[int]: the video indices sorted by number of queries,
        descending, ties in sampler order.
    """
    return sorted(range(len(query_counts)), key=lambda i: -query_counts[i])


def num_hard_rows(num_rows: int, alpha: float) -> int:
    """How many leading rows keep one-hot targets: ``floor(alpha * N)``.

    Args:
        num_rows (int): rows of the InfoNCE term (queries or videos).
        alpha (float): hard-row fraction, in ``[0, 1]``.

    Returns:
        int: the number of hard rows; the rows after them get soft targets.
    """
    return math.floor(alpha * num_rows)
