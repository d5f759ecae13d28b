"""One masked multi-head self-attention block (BERT attention, no FFN)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import PRVRConfigError
from .dropout import FastDropout, build_dropout
from .packing import (Packing, gather_rows, permute_rows, scatter_rows,
                      split_by_length)


class MaskedSelfAttentionBlock(nn.Module):
    """Multi-head self-attention followed by ``LayerNorm(dense(ctx) + x)``.

    Inference runs ``torch.nn.functional.scaled_dot_product_attention`` with
    a boolean key mask: padded keys get exactly zero weight (safe in
    fp16/bf16), and the backend picks a fused kernel where it has one.
    Training with attention dropout on CPU (or with ``fast_dropout=False``)
    computes the probabilities explicitly and drops them through
    ``attn_drop`` (SDPA's CPU reference path does the same maths but draws
    its mask element by element); on CUDA the fused kernels drop them.

    Args:
        dim (int): hidden dim ``H``; must be divisible by ``num_heads``.
        num_heads (int): attention heads. Defaults to 4.
        dropout (float): dropout on attention probabilities and on the
            output projection. Defaults to 0.1.
        fast_dropout (bool): :class:`FastDropout` for the attention
            probabilities and the output (True); or ``torch.nn.Dropout``
            for both, which draws the authors' masks (same seed, same
            masks). Defaults to True.
        buckets (int): on packed rows (:meth:`forward_rows`), attend within
            this many groups of sequences of similar length, each padded
            to its own longest sequence (same results, less padding).
            Defaults to 4.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 4,
                 dropout: float = 0.1,
                 fast_dropout: bool = True,
                 buckets: int = 4):
        super().__init__()
        if dim % num_heads != 0:
            raise PRVRConfigError(f'hidden dim {dim} is not a multiple of '
                                  f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attn_drop = build_dropout(dropout, fast_dropout)
        self.buckets = buckets
        self.dense = nn.Linear(dim, dim)
        self.out_drop = build_dropout(dropout, fast_dropout)
        self.norm = nn.LayerNorm(dim)

    def _explicit(self) -> bool:
        """Whether this call computes the probabilities explicitly (training
        with attention dropout on CPU, or the authors' dropout draws)."""
        return self.training and self.attn_drop.p > 0 and (
            not isinstance(self.attn_drop, FastDropout)
            or self.query.weight.device.type == 'cpu')

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., 3H): the query, key and value projections from
        one product.  In the fast explicit path the ``1 / sqrt(d)`` score
        scale is folded into the query projection."""
        scale = 1.0
        if self._explicit() and isinstance(self.attn_drop, FastDropout):
            scale = self.head_dim**-0.5
        weight = torch.cat(
            (self.query.weight * scale, self.key.weight, self.value.weight))
        bias = torch.cat(
            (self.query.bias * scale, self.key.bias, self.value.bias))
        return F.linear(x, weight, bias)

    def _attend(self, qkv: torch.Tensor,
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        """(N, L, 3H) projections -> context (N, L, H)."""
        n, length, _ = qkv.shape
        # split (its backward is one cat), then heads: (N, heads, L, d)
        q, k, v = (
            x.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)
            for x in qkv.split(qkv.shape[-1] // 3, dim=-1))
        keep = None if mask is None else mask.bool()[:, None, None, :]
        if self._explicit():
            scores = q @ k.transpose(-1, -2)
            if not isinstance(self.attn_drop, FastDropout):
                scores = scores / self.head_dim**0.5  # the authors' order
            if keep is not None:
                scores = scores.masked_fill(~keep,
                                            torch.finfo(scores.dtype).min)
            ctx = self.attn_drop(scores.softmax(dim=-1)) @ v
        else:
            # fused kernel (flash / memory-efficient) where the backend has
            # one; padded keys get zero weight, exactly as the authors'
            # -10000 does in float32 (exp underflows to 0)
            ctx = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=keep,
                dropout_p=self.attn_drop.p if self.training else 0.0)
        return ctx.transpose(1, 2).reshape(n, length, -1)

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode a padded sequence.

        Args:
            x (Tensor): (N, L, H) inputs.
            mask (Tensor, optional): (N, L), 1 = valid, 0 = padding.

        Returns:
            Tensor: (N, L, H).
        """
        ctx = self._attend(self._qkv(x), mask)
        return self.norm(self.out_drop(self.dense(ctx)) + x)

    def forward_rows(self, x: torch.Tensor, packing: Packing) -> torch.Tensor:
        """Encode packed rows: the linears, residual and LayerNorm see the
        valid rows only; the attention itself runs on the padded layout.

        Args:
            x (Tensor): (R, H) valid rows.
            packing (Packing): their positions.

        Returns:
            Tensor: (R, H), equal to the valid rows of :meth:`forward`.
        """
        qkv = self._qkv(x)
        if self.buckets <= 1 or packing.mask.shape[0] < 2 * self.buckets:
            ctx = gather_rows(
                self._attend(scatter_rows(qkv, packing), packing.mask),
                packing)
            return self.norm(self.out_drop(self.dense(ctx)) + x)
        buckets = split_by_length(packing, self.buckets)
        order = torch.cat([rows for rows, _ in buckets])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        # rows bucket by bucket: one permutation, then contiguous slices
        parts = permute_rows(qkv, order,
                             inverse).split([len(rows) for rows, _ in buckets])
        ctx = torch.cat([
            gather_rows(self._attend(scatter_rows(part, sub), sub.mask), sub)
            for part, (_, sub) in zip(parts, buckets)
        ])
        ctx = permute_rows(ctx, inverse, order)
        return self.norm(self.out_drop(self.dense(ctx)) + x)
