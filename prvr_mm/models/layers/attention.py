"""One masked multi-head self-attention block (BERT attention, no FFN)."""
import math
from typing import Optional

import torch
import torch.nn as nn


class MaskedSelfAttentionBlock(nn.Module):
    """Multi-head self-attention followed by ``LayerNorm(dense(ctx) + x)``.

    Padded keys are excluded with the dtype's minimum (safe in fp16/bf16).

    Args:
        dim (int): hidden dim ``H``; must be divisible by ``num_heads``.
        num_heads (int): attention heads. Defaults to 4.
        dropout (float): dropout on attention probabilities and on the
            output projection. Defaults to 0.1.
    """

    def __init__(self, dim: int, num_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'hidden dim {dim} is not a multiple of '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(dropout)
        self.dense = nn.Linear(dim, dim)
        self.out_drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

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
        q, k, v = self._heads(self.query(x)), self._heads(
            self.key(x)), self._heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if mask is not None:
            pad = ~mask.bool()[:, None, None, :]  # (N, 1, 1, L)
            scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
        probs = self.attn_drop(scores.softmax(dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(x.shape)
        return self.norm(self.out_drop(self.dense(ctx)) + x)
