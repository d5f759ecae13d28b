"""Input projection and learned positional encoding of a PRVR branch."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class InputProjection(nn.Module):
    """LayerNorm over the input dim, dropout, Linear, ReLU.

    Takes raw clip or token features and maps them to the branch's hidden
    size, as in the authors' ``LinearLayer``.

    Args:
        in_dim (int): input feature dim ``Din``.
        out_dim (int): hidden dim ``H``.
        dropout (float): dropout before the linear layer. Defaults to 0.1.
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, Din) -> (N, L, H)."""
        return F.relu(self.linear(self.dropout(self.norm(x))))


class LearnedPositionalEncoding(nn.Module):
    """``LayerNorm(x + P[:L])`` followed by dropout.

    Args:
        max_len (int): number of learned positions.
        dim (int): hidden dim ``H``.
        dropout (float): dropout after the norm. Defaults to 0.1.
    """

    def __init__(self, max_len: int, dim: int, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, H) -> (N, L, H); raises if ``L`` exceeds ``max_len``."""
        length = x.shape[1]
        if length > self.embedding.num_embeddings:
            raise ValueError(
                f'sequence of length {length} exceeds the '
                f'{self.embedding.num_embeddings} learned positions; '
                'sample/truncate inputs to max_ctx_l / max_desc_l first')
        return self.dropout(self.norm(x + self.embedding.weight[:length]))
