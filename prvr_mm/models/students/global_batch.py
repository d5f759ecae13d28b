"""The global batch of a data-parallel step: every rank's queries and videos,
gathered with gradients, in the order one process would see them.

With ``DualStudentRecognizer(gather_negatives=True)`` the triplet, InfoNCE
and KL terms are computed on the batches of all ranks together, so that N
processes with a batch of B videos each train like one process with a batch
of N x B videos:

* each rank scores its own queries against the clips of ALL videos (clip
  embeddings, masks and teacher features are all-gathered, padded to the
  largest batch and clip count of any rank), then the (Nq_r, Nv) score rows
  of all ranks are all-gathered into the global (Nq, Nv) matrices;
* every rank computes the same global loss; the gathers are
  :func:`torch.distributed.nn.functional.all_gather`, whose backward SUMS the
  gradients of all ranks, so each rank receives N times the gradient of its
  own embeddings and DDP's gradient averaging (division by N) yields exactly
  the single-process gradient (no loss rescaling needed; the logged loss is
  the single-process loss);
* the global batch is put in the single-process order (see
  :class:`GlobalBatch`), which decides the DL-DKD++ soft-target rows.
"""
from typing import List, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..batch_order import collate_order


def _world() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _rank() -> int:
    return dist.get_rank() if _world() > 1 else 0


def _all_gather(tensor: torch.Tensor) -> List[torch.Tensor]:
    """All-gather equal-shaped tensors; differentiable when needed."""
    if tensor.requires_grad:
        from torch.distributed.nn.functional import all_gather
        return list(all_gather(tensor))
    out = [torch.empty_like(tensor) for _ in range(_world())]
    dist.all_gather(out, tensor.contiguous())
    return out


def video_order(counts: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The single-process order of the videos of a global batch: the
    authors' collate order (:func:`~prvr_mm.models.batch_order.
    collate_order`: by number of queries, descending, ties in sampler order)
    applied to the videos in sampler order.

    Args:
        counts (Tensor): (Nv,) number of queries of each video.
        positions (Tensor): (Nv,) distinct sampler positions of the videos.

    Returns:
        Tensor: (Nv,) indices of the videos in that order.
    """
    by_position = positions.argsort()
    order = collate_order(counts[by_position].tolist())
    return by_position[torch.tensor(order, device=by_position.device)]


class GlobalBatch:
    """Gathers one rank's part of a batch into the global batch.

    Order guarantee: rank ``r``'s ``j``-th video (in the order its sampler
    gave it, i.e. with the data preprocessor's local sort switched off) sits
    at position ``j * N + r`` of the global sampler order; this is the order
    in which MMEngine's ``DefaultSampler`` / ``InfiniteSampler`` deal one
    global batch of ``N x B`` samples out to ``N`` ranks, so the global batch
    holds the samples of one process's batch ``N x B`` in the same order.
    Videos are then sorted by number of queries (descending, stable), and
    queries follow their videos in their original order, exactly as
    :class:`PRVRDataPreprocessor` orders a single-process batch.  With
    different per-rank batch sizes the same rule applies (sampler positions
    ``j * N + r``).

    When ``enabled`` is False every method is the identity (the default,
    per-rank losses like the authors' single-GPU code).

    Args:
        video_mask (Tensor): (B_r, L_r) local clip mask, 1 = valid.
        query_to_video (Tensor): (Nq_r,) local video index of each query.
        enabled (bool): gather and reorder. Defaults to True.
    """

    def __init__(self,
                 video_mask: torch.Tensor,
                 query_to_video: torch.Tensor,
                 enabled: bool = True) -> None:
        self.enabled = enabled
        self.world = _world() if enabled else 1
        num_v, num_l = video_mask.shape
        num_q = query_to_video.shape[0]
        self.mask = video_mask
        self.labels = self.row_labels = query_to_video
        if not enabled:
            return
        device = video_mask.device
        sizes = torch.tensor([[num_v, num_l, num_q]], device=device)
        if self.world > 1:
            sizes = torch.cat(_all_gather(sizes))
        self.sizes = sizes.tolist()  # per rank: (B_r, L_r, Nq_r)
        self.max_v = max(s[0] for s in self.sizes)
        self.max_l = max(s[1] for s in self.sizes)
        self.max_q = max(s[2] for s in self.sizes)
        rank = _rank()
        offsets = [0]
        for size in self.sizes:
            offsets.append(offsets[-1] + size[0])
        # local queries' videos as columns of the gathered (unordered) batch
        self.row_labels = query_to_video + offsets[rank]
        self.mask = self.videos(video_mask)

        counts = torch.bincount(query_to_video, minlength=num_v)
        all_counts = self._cat_padded(counts, self.max_v, 0)
        all_labels = self.rows(self.row_labels)
        positions = torch.cat([
            torch.arange(size[0], device=device) * self.world + r
            for r, size in enumerate(self.sizes)
        ])
        self.v_order = video_order(all_counts, positions)
        new_pos = torch.empty_like(self.v_order)
        new_pos[self.v_order] = torch.arange(len(self.v_order), device=device)
        query_video = new_pos[all_labels]
        self.q_order = query_video.argsort(stable=True)
        self.labels = query_video[self.q_order]

    def _cat_padded(self,
                    x: torch.Tensor,
                    size: int,
                    axis: int,
                    length: Optional[int] = None) -> torch.Tensor:
        """Pad ``x`` on dim 0 to ``size`` (and dim 1 to ``length``), gather
        it from every rank and concatenate the valid parts along dim 0."""
        if self.world == 1:
            return x
        pad = [0, 0] * x.dim()
        pad[-1] = size - x.shape[0]  # F.pad lists the last dim first
        if length is not None:
            pad[-3] = length - x.shape[1]
        parts = _all_gather(F.pad(x, pad))
        return torch.cat([p[:s[axis]] for p, s in zip(parts, self.sizes)])

    def videos(self, x: torch.Tensor) -> torch.Tensor:
        """Gather a per-video tensor (embeddings, masks, teacher features).

        Args:
            x (Tensor): (B_r, L_r, ...) this rank's videos.

        Returns:
            Tensor: (Nv, L, ...) all videos, rank by rank (not reordered:
            the columns of :meth:`scores` rows), clips zero-padded to the
            largest ``L_r``.
        """
        if not self.enabled:
            return x
        return self._cat_padded(x, self.max_v, 0, self.max_l)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """Gather per-query rows, rank by rank (not reordered).

        Args:
            x (Tensor): (Nq_r, ...) this rank's queries.

        Returns:
            Tensor: (Nq, ...).
        """
        if not self.enabled:
            return x
        return self._cat_padded(x, self.max_q, 2)

    def scores(self, rows: torch.Tensor) -> torch.Tensor:
        """The global score matrix, in single-process order.

        Args:
            rows (Tensor): (Nq_r, Nv) scores of this rank's queries against
                the gathered videos (:meth:`videos` order).

        Returns:
            Tensor: (Nq, Nv), rows and columns in the order of
            :attr:`labels`.
        """
        if not self.enabled:
            return rows
        return self.rows(rows)[self.q_order][:, self.v_order]

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum a scalar over ranks (e.g. a loss summed over local queries).

        Args:
            value (Tensor): () this rank's part.

        Returns:
            Tensor: () the global sum (differentiable).
        """
        if self.world == 1:
            return value
        return torch.stack(_all_gather(value.reshape(1))).sum()
