"""Dropout whose random draws cost less than the product they feed (CPU).

On CPU ``torch.nn.Dropout`` draws one Bernoulli sample per element through
the generic generator path, which costs about as much as the linear layer
behind DL-DKD's 3072-d input dropout.  :func:`drop_positions` draws the same
Bernoulli(``p``) process from its gaps instead: the distances between
consecutive dropped elements are i.i.d. Geometric(``p``), one uniform draw
each (``floor(log(1 - u) / log(1 - p)) + 1``), so a mask over ``n``
elements costs about ``p * n`` draws (a tenth for DL-DKD's ``p = 0.1``) and
is applied by zeroing the dropped positions in place, without a dense mask.
Each element is dropped independently with probability ``p`` (up to the
float32 resolution of ``u``).  Other devices keep torch's fused dropout.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import PRVRConfigError


def drop_positions(numel: int, p: float, device: torch.device) -> torch.Tensor:
    """Flat indices of the dropped elements of a Bernoulli(``p``) mask.

    Args:
        numel (int): number of elements ``n``.
        p (float): drop probability in ``(0, 1)``.
        device (torch.device): where to draw them.

    Returns:
        Tensor: (K,) int64 ascending indices in ``[0, n)``; ``K`` is
        Binomial(``n``, ``p``).
    """
    if not 0.0 < p < 1.0:
        raise PRVRConfigError(f'drop probability must be in (0, 1), got {p}')
    log_keep = math.log1p(-p)
    mean = numel * p  # gaps drawn per chunk: mean + 6 sigma
    chunk = int(mean + 6.0 * math.sqrt(mean * (1.0 - p)) + 64)
    parts, start = [], 0  # start: first position the next gap counts from
    while start < numel:
        u = torch.rand(chunk, device=device)
        gaps = torch.log1p(-u).div_(log_keep).floor_().to(torch.int64)
        ends = gaps.add_(1).cumsum_(0).add_(start - 1)  # dropped positions
        parts.append(ends)
        start = int(ends[-1]) + 1
    positions = parts[0] if len(parts) == 1 else torch.cat(parts)
    end = int(torch.searchsorted(positions, numel))  # ascending: cut there
    return positions[:end]


class _DropAt(torch.autograd.Function):
    """``x * scale`` with the listed flat positions zeroed; the gradient is
    masked the same way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, positions: torch.Tensor, scale: float,
                inplace: bool) -> torch.Tensor:
        if inplace and x.is_contiguous():
            ctx.mark_dirty(x)
            out = x if scale == 1.0 else x.mul_(scale)
        else:
            out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
            torch.mul(x, scale, out=out)
        out.view(-1).index_fill_(0, positions, 0)
        ctx.save_for_backward(positions)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx,
                 grad: torch.Tensor) -> Tuple[torch.Tensor, None, None, None]:
        positions, = ctx.saved_tensors
        out = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
        torch.mul(grad, ctx.scale, out=out)
        out.view(-1).index_fill_(0, positions, 0)
        return out, None, None, None


def fast_dropout(x: torch.Tensor,
                 p: float,
                 scale: bool = True,
                 inplace: bool = False) -> torch.Tensor:
    """Training-mode dropout through :func:`drop_positions`.

    Args:
        x (Tensor): input of any shape.
        p (float): drop probability in ``(0, 1)``.
        scale (bool): multiply the kept elements by ``1 / (1 - p)``; False
            when the caller folded that factor in already. Defaults to True.
        inplace (bool): zero ``x`` itself (a fresh tensor that autograd does
            not save, e.g. a LayerNorm output). Defaults to False.

    Returns:
        Tensor: ``x`` with dropped elements zeroed.
    """
    positions = drop_positions(x.numel(), p, x.device)
    return _DropAt.apply(x, positions, 1.0 / (1.0 - p) if scale else 1.0,
                         inplace)


def use_fast_dropout(x: torch.Tensor, p: float, training: bool) -> bool:
    """Whether :func:`fast_dropout` serves this dropout call (CPU, training,
    ``0 < p < 1``)."""
    return training and 0.0 < p < 1.0 and x.device.type == 'cpu'


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its CPU masks with :func:`drop_positions`.

    Same arguments, same distribution (each element dropped independently
    with probability ``p``, kept ones scaled by ``1 / (1 - p)``); on other
    devices, in eval mode or with ``p`` 0 or 1 it is ``nn.Dropout``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop elements of ``x`` (any shape)."""
        if not use_fast_dropout(x, self.p, self.training):
            return F.dropout(x, self.p, self.training, self.inplace)
        return fast_dropout(x, self.p)


def build_dropout(p: float, fast: bool = True) -> nn.Dropout:
    """:class:`FastDropout` (``fast``) or ``torch.nn.Dropout``."""
    return FastDropout(p) if fast else nn.Dropout(p)
