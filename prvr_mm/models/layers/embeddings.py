"""Input projection and learned positional encoding of a PRVR branch."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .dropout import (FastDropout, build_dropout, fast_dropout,
                      use_fast_dropout)
from .packing import Packing, gather_rows, pack, scatter_rows


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
        if isinstance(self.dropout, FastDropout) and use_fast_dropout(
                x, p, self.training):
            scale = 1.0 / (1.0 - p)  # LN(x) * scale in the affine, one pass
            x = F.layer_norm(x, self.norm.normalized_shape,
                             self.norm.weight * scale, self.norm.bias * scale,
                             self.norm.eps)
            x = fast_dropout(x, p, scale=False, inplace=True)
        else:
            x = self.dropout(self.norm(x))
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
            raise ValueError(
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
