"""Attention pooling of encoded query tokens into one query vector."""
import torch
import torch.nn as nn


class AttentionPooling(nn.Module):
    """``softmax_t(w^T h_t)`` over valid tokens, then ``sum_t a_t h_t``.

    Args:
        dim (int): hidden dim ``H``.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool tokens.

        Args:
            x (Tensor): (N, L, H) encoded tokens.
            mask (Tensor): (N, L), 1 = valid, 0 = padding.

        Returns:
            Tensor: (N, H) pooled query vectors.
        """
        logits = self.score(x).squeeze(-1)
        logits = logits.masked_fill(~mask.bool(),
                                    torch.finfo(logits.dtype).min)
        weights = logits.softmax(dim=-1)
        return torch.einsum('nl,nlh->nh', weights, x)
