"""Input projection and learned positional encoding of a PRVR branch."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import PRVRConfigError
from .dropout import (FastDropout, build_dropout, drop_positions, fast_dropout,
                      use_fast_dropout)
from .packing import Packing, gather_rows, pack, scatter_rows

#: rows per block of :func:`_norm_affine_grads` (a (rows, Din) float32
#: block of 3072-d rows is 12 MB: it stays in the caches)
AFFINE_GRAD_BLOCK = 1024


def _norm_affine_grads(grad: torch.Tensor,
                       x: torch.Tensor,
                       mean: torch.Tensor,
                       rstd: torch.Tensor,
                       weight: torch.Tensor,
                       positions: torch.Tensor,
                       block: Optional[int] = None):
    """Gradients of a LayerNorm's affine under dropout and a linear layer,
    block by block, when the input needs none.

    ``g = (grad @ weight)`` with the dropped positions zeroed is the
    gradient of the normalised input; the affine gradients are its column
    sums, ``sum_r g * xhat`` and ``sum_r g``.  One block of rows at a time
    the (R, Din) ``g`` never exists whole: its product writes into a block
    that stays in the caches, where both sums read it (a whole ``g`` of a
    TVR batch is 130 MB written and read back from memory).

    Args:
        grad (Tensor): (R, H) gradient of the linear output.
        x (Tensor): (R, Din) LayerNorm input.
        mean (Tensor): (R, 1) its row means.
        rstd (Tensor): (R, 1) its reciprocal row standard deviations.
        weight (Tensor): (H, Din) linear weight.
        positions (Tensor): ascending flat indices of the dropped elements
            of the (R, Din) normalised input.
        block (int, optional): rows per block; defaults to
            :data:`AFFINE_GRAD_BLOCK` (read at call time).

    Returns:
        tuple[Tensor, Tensor]: (Din,) ``sum_r g * xhat`` and ``sum_r g``.
    """
    block = block or AFFINE_GRAD_BLOCK
    rows, dim = x.shape
    grad_w, grad_b = x.new_zeros(dim), x.new_zeros(dim)
    starts = list(range(0, rows, block))
    bounds = torch.tensor(starts + [rows], device=x.device) * dim
    cuts = torch.searchsorted(positions, bounds).tolist()
    g_buf = x.new_empty(min(block, rows), dim)
    h_buf = x.new_empty(min(block, rows), dim)
    for i, r0 in enumerate(starts):
        r1 = min(r0 + block, rows)
        g = torch.mm(grad[r0:r1], weight, out=g_buf[:r1 - r0])
        if cuts[i + 1] > cuts[i]:
            g.view(-1).index_fill_(0,
                                   positions[cuts[i]:cuts[i + 1]] - r0 * dim,
                                   0)
        grad_b += g.sum(0)
        xhat = torch.sub(x[r0:r1], mean[r0:r1], out=h_buf[:r1 - r0])
        grad_w += xhat.mul_(rstd[r0:r1]).mul_(g).sum(0)
    return grad_w, grad_b


class _NormDropLinear(torch.autograd.Function):
    """``Linear(drop(LayerNorm(x)))`` for 2-D ``x``, dropped positions given.

    One LayerNorm pass writes the normalised input already scaled by
    ``1 / (1 - p)`` (folded into its affine), the dropped positions are
    zeroed in place, and the backward zeroes them in the input gradient of
    the linear layer in place: no dense mask and no extra pass over the
    wide (R, Din) tensor in either direction.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, norm_weight: torch.Tensor,
                norm_bias: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor, positions: torch.Tensor, scale: float,
                eps: float) -> torch.Tensor:
        shape = (x.shape[-1], )
        y, mean, rstd = torch.native_layer_norm(x, shape, norm_weight * scale,
                                                norm_bias * scale, eps)
        y.view(-1).index_fill_(0, positions, 0)
        ctx.save_for_backward(x, y, mean, rstd, norm_weight, norm_bias, weight,
                              positions)
        ctx.scale, ctx.eps = scale, eps
        return torch.addmm(bias, y, weight.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y, mean, rstd, norm_weight, norm_bias, weight, positions = \
            ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_weight = grad.t().mm(y) if needs[3] else None
        grad_bias = grad.sum(0) if needs[4] else None
        grad_x = grad_norm_weight = grad_norm_bias = None
        if not needs[0] and (needs[1] or needs[2]):  # data in: no grad_x
            grad_norm_weight, grad_norm_bias = _norm_affine_grads(
                grad, x, mean, rstd, weight, positions)
            grad_norm_weight = grad_norm_weight * ctx.scale \
                if needs[1] else None
            grad_norm_bias = grad_norm_bias * ctx.scale if needs[2] else None
        elif needs[0] or needs[1] or needs[2]:
            grad_y = grad.mm(weight)
            grad_y.view(-1).index_fill_(0, positions, 0)
            grad_x, grad_norm_weight, grad_norm_bias = \
                torch.ops.aten.native_layer_norm_backward(
                    grad_y, x, (x.shape[-1], ), mean, rstd,
                    norm_weight * ctx.scale, norm_bias * ctx.scale,
                    [needs[0], needs[1], needs[2]])
            if grad_norm_weight is not None:
                grad_norm_weight = grad_norm_weight * ctx.scale
            if grad_norm_bias is not None:
                grad_norm_bias = grad_norm_bias * ctx.scale
        return (grad_x, grad_norm_weight, grad_norm_bias, grad_weight,
                grad_bias, None, None, None)


class InputProjection(nn.Module):
    """LayerNorm over the input dim, dropout, Linear, ReLU.

    Takes raw clip or token features and maps them to the branch's hidden
    size, as in the authors' ``LinearLayer``.

    Given a mask, only the valid rows are projected (packed into one
    matrix, then scattered back), so padding costs no LayerNorm, dropout or
    product over the wide input dim; padded positions receive the
    projection of a zero row, i.e. exactly what the full computation gives
    for the zero padding the data preprocessor writes (valid rows never
    depend on padded ones).

    Args:
        in_dim (int): input feature dim ``Din``.
        out_dim (int): hidden dim ``H``.
        dropout (float): dropout before the linear layer. Defaults to 0.1.
        fast_dropout (bool): draw CPU dropout masks with
            :class:`FastDropout` (the ``1 / (1 - p)`` scale folded into the
            LayerNorm affine); False uses ``torch.nn.Dropout``. Defaults to
            True.
    """

    def __init__(self,
                 in_dim: int,
                 out_dim: int,
                 dropout: float = 0.1,
                 fast_dropout: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = build_dropout(dropout, fast_dropout)
        self.linear = nn.Linear(in_dim, out_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """(..., Din) -> (..., H), every row."""
        p = self.dropout.p
        if not (isinstance(self.dropout, FastDropout)
                and use_fast_dropout(x, p, self.training)):
            return F.relu(self.linear(self.dropout(self.norm(x))))
        scale = 1.0 / (1.0 - p)  # LN(x) * scale in the affine, one pass
        if x.dtype in (torch.float32, torch.float64) and \
                not torch.is_autocast_enabled(x.device.type):
            rows = x.reshape(-1, x.shape[-1])
            out = _NormDropLinear.apply(
                rows, self.norm.weight, self.norm.bias,
                self.linear.weight, self.linear.bias,
                drop_positions(rows.numel(), p,
                               x.device), scale, self.norm.eps)
            return F.relu(out).view(*x.shape[:-1], -1)
        x = F.layer_norm(x, self.norm.normalized_shape,
                         self.norm.weight * scale, self.norm.bias * scale,
                         self.norm.eps)
        x = fast_dropout(x, p, scale=False, inplace=True)
        return F.relu(self.linear(x))

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Project features.

        Args:
            x (Tensor): (N, L, Din) features, zero at padded positions.
            mask (Tensor, optional): (N, L), 1 = valid, 0 = padding; when
                given, only the valid rows are projected.

        Returns:
            Tensor: (N, L, H).
        """
        if mask is None:
            return self.project(x)
        packing = pack(mask)
        rows = self.project(gather_rows(x, packing))
        pad = self.project(x.new_zeros(1, x.shape[-1]))  # the zero padding
        return scatter_rows(rows, packing, fill=pad)


class LearnedPositionalEncoding(nn.Module):
    """``LayerNorm(x + P[:L])`` followed by dropout.

    Args:
        max_len (int): number of learned positions.
        dim (int): hidden dim ``H``.
        dropout (float): dropout after the norm. Defaults to 0.1.
        fast_dropout (bool): :class:`FastDropout` (True) or
            ``torch.nn.Dropout``. Defaults to True.
    """

    def __init__(self,
                 max_len: int,
                 dim: int,
                 dropout: float = 0.1,
                 fast_dropout: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = build_dropout(dropout, fast_dropout)

    def _check(self, length: int) -> None:
        if length > self.embedding.num_embeddings:
            raise PRVRConfigError(
                f'sequence of length {length} exceeds the '
                f'{self.embedding.num_embeddings} learned positions; '
                'sample/truncate inputs to max_ctx_l / max_desc_l first')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, H) -> (N, L, H); raises if ``L`` exceeds ``max_len``."""
        length = x.shape[1]
        self._check(length)
        return self.dropout(self.norm(x + self.embedding.weight[:length]))

    def forward_rows(self, x: torch.Tensor, packing: Packing) -> torch.Tensor:
        """The same on packed rows: (R, H) -> (R, H)."""
        self._check(packing.mask.shape[1])
        pos = self.embedding.weight.index_select(0, packing.position)
        return self.dropout(self.norm(x + pos))
