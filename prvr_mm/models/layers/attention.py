"""One masked multi-head self-attention block (BERT attention, no FFN)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .dropout import FastDropout, build_dropout
from .packing import Packing, gather_rows, scatter_rows


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
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 4,
                 dropout: float = 0.1,
                 fast_dropout: bool = True):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'hidden dim {dim} is not a multiple of '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attn_drop = build_dropout(dropout, fast_dropout)
        self.dense = nn.Linear(dim, dim)
        self.out_drop = build_dropout(dropout, fast_dropout)
        self.norm = nn.LayerNorm(dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        """(N, L, H) x3 -> context (N, L, H)."""
        keep = None if mask is None else mask.bool()[:, None, None, :]
        dropout_p = self.attn_drop.p if self.training else 0.0
        if dropout_p > 0 and (q.device.type == 'cpu'
                              or not isinstance(self.attn_drop, FastDropout)):
            return self._attend_explicit(q, k, v, keep)
        # fused kernel (flash / memory-efficient) where the backend has one;
        # padded keys get zero weight, exactly as the authors' -10000 does
        # in float32 (exp underflows to 0)
        ctx = F.scaled_dot_product_attention(
            self._heads(q),
            self._heads(k),
            self._heads(v),
            attn_mask=keep,
            dropout_p=dropout_p)
        return ctx.transpose(1, 2).reshape(q.shape)

    def _attend_explicit(self, q: torch.Tensor, k: torch.Tensor,
                         v: torch.Tensor,
                         keep: Optional[torch.Tensor]) -> torch.Tensor:
        """The reference maths with ``attn_drop`` as a module call."""
        scores = self._heads(q) @ self._heads(k).transpose(-1, -2)
        scores = scores / self.head_dim**0.5
        if keep is not None:
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        probs = self.attn_drop(scores.softmax(dim=-1))
        ctx = probs @ self._heads(v)
        return ctx.transpose(1, 2).reshape(q.shape)

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
        ctx = self._attend(self.query(x), self.key(x), self.value(x), mask)
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
        q, k, v = (
            scatter_rows(layer(x), packing)
            for layer in (self.query, self.key, self.value))
        ctx = gather_rows(self._attend(q, k, v, packing.mask), packing)
        return self.norm(self.out_drop(self.dense(ctx)) + x)
