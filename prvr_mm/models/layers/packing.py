"""Packing of padded sequences: work on the valid rows only.

A batch of padded sequences ``(N, L, D)`` with a mask ``(N, L)`` holds
``R = mask.sum()`` valid rows.  Per-row layers (projections, LayerNorms,
dropout, positional encodings, the attention linears) only need those rows:
:func:`pack` finds them once, :func:`gather_rows` / :func:`scatter_rows` move
features between the padded ``(N, L, D)`` and the packed ``(R, D)`` layout.
"""
from typing import NamedTuple, Optional

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
