"""Packing of padded sequences: work on the valid rows only.

A batch of padded sequences ``(N, L, D)`` with a mask ``(N, L)`` holds
``R = mask.sum()`` valid rows.  Per-row layers (projections, LayerNorms,
dropout, positional encodings, the attention linears) only need those rows:
:func:`pack` finds them once, :func:`gather_rows` / :func:`scatter_rows` move
features between the padded ``(N, L, D)`` and the packed ``(R, D)`` layout.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch


class Packing(NamedTuple):
    """Valid positions of a padded ``(N, L)`` batch.

    Attributes:
        index (Tensor): (R,) int64 flat indices of the valid positions in
            ``N * L`` (ascending: sequence by sequence).
        position (Tensor): (R,) int64 position of each row in its sequence.
        mask (Tensor): (N, L) bool, True = valid.
    """
    index: torch.Tensor
    position: torch.Tensor
    mask: torch.Tensor


def pack(mask: torch.Tensor) -> Packing:
    """Index the valid positions of ``mask`` (N, L), 1 / True = valid."""
    valid = mask.bool()
    index = valid.reshape(-1).nonzero().squeeze(1)
    return Packing(index, index % valid.shape[1], valid)


def worth_packing(mask: torch.Tensor, max_ratio: float) -> bool:
    """Whether at most ``max_ratio`` of the positions are valid (packing
    then saves more than its gather / scatter costs)."""
    return max_ratio > 0 and float(mask.float().mean()) <= max_ratio


def gather_rows(x: torch.Tensor, packing: Packing) -> torch.Tensor:
    """(N, L, D) -> (R, D): the valid rows."""
    return x.reshape(-1, x.shape[-1]).index_select(0, packing.index)


class _PermuteRows(torch.autograd.Function):
    """``x[order]`` for a permutation ``order``; the gradient is
    ``grad[inverse]`` (``index_select``'s own backward would zero a whole
    ``x``-sized tensor and add the rows into it)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, order: torch.Tensor,
                inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(0, order)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        inverse, = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def permute_rows(x: torch.Tensor, order: torch.Tensor,
                 inverse: torch.Tensor) -> torch.Tensor:
    """(R, D) -> (R, D) rows in the order of the permutation ``order``.

    Args:
        x (Tensor): (R, D) rows.
        order (Tensor): (R,) int64 permutation of ``range(R)``.
        inverse (Tensor): (R,) its inverse (``inverse[order] = arange``).

    Returns:
        Tensor: ``x[order]``.
    """
    return _PermuteRows.apply(x, order, inverse)


def scatter_rows(rows: torch.Tensor,
                 packing: Packing,
                 fill: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(R, D) -> (N, L, D): valid rows in place, padding from ``fill``.

    Args:
        rows (Tensor): (R, D) packed rows.
        packing (Packing): where they go.
        fill (Tensor, optional): (1, D) row for every padded position;
            zeros when None.

    Returns:
        Tensor: (N, L, D).
    """
    n, length = packing.mask.shape
    if fill is None:
        out = rows.new_zeros(n * length, rows.shape[-1])
        out.index_copy_(0, packing.index, rows)  # autograd: rows' gradient
    else:
        out = fill.expand(n * length, -1).index_copy(0, packing.index, rows)
    return out.view(n, length, -1)


def split_by_length(packing: Packing,
                    num_buckets: int) -> List[Tuple[torch.Tensor, Packing]]:
    """Split a packed batch into buckets of sequences of similar length.

    Sequences are sorted by their padded extent (last valid position + 1)
    and cut into ``num_buckets`` groups of (nearly) equal count; each group
    is padded only to its own longest member, so attention over a bucket
    skips most of the padding of a batch of mixed lengths.

    Args:
        packing (Packing): the whole batch, ``N`` sequences.
        num_buckets (int): number of groups (at most ``N``).

    Returns:
        list[tuple[Tensor, Packing]]: per bucket, the (R_b,) indices of its
        rows in the packed ``(R, D)`` layout (sequence by sequence, in the
        bucket's order) and the bucket's own :class:`Packing` of shape
        ``(N_b, L_b)`` over those rows.
    """
    mask = packing.mask
    num, length = mask.shape
    counts = mask.sum(1)
    starts = counts.cumsum(0) - counts  # first packed row of each sequence
    positions = torch.arange(length, device=mask.device)
    extent = torch.where(mask, positions + 1, 0).amax(1)
    out = []
    for seqs in extent.argsort(stable=True).chunk(min(num_buckets, num)):
        cnt = counts[seqs]
        local = torch.repeat_interleave(
            torch.arange(len(seqs), device=mask.device), cnt)
        within = torch.arange(
            len(local), device=mask.device) - (cnt.cumsum(0) - cnt)[local]
        rows = starts[seqs][local] + within
        width = max(int(extent[seqs].max()), 1)
        position = packing.position[rows]
        out.append((rows,
                    Packing(local * width + position, position,
                            mask[seqs, :width])))
    return out
