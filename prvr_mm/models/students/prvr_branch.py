"""One student branch: encodes queries to vectors, videos to clip vectors."""
from typing import Optional

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..layers import (AttentionPooling, InputProjection,
                      LearnedPositionalEncoding, MaskedSelfAttentionBlock,
                      Packing, gather_rows, pack, scatter_rows, worth_packing)


@MODELS.register_module()
class PRVRBranch(BaseModule):
    """Query encoder + clip encoder of DL-DKD (inheritance or exploration).

    Query side: input projection -> learned positional encoding -> masked
    self-attention -> attention pooling to one (H,) vector.  Video side:
    input projection -> positional encoding -> masked self-attention ->
    linear clip projection, giving one (H,) vector per clip.

    Args:
        video_dim (int): clip feature dim ``Dv``.
        query_dim (int): token feature dim ``Dq``.
        hidden_dim (int): hidden dim ``H``. Defaults to 384.
        max_ctx_l (int): max clips per video. Defaults to 128.
        max_desc_l (int): max tokens per query. Defaults to 30.
        num_heads (int): attention heads. Defaults to 4.
        input_dropout (float): dropout of the input projections and
            positional encodings. Defaults to 0.1.
        dropout (float): dropout inside attention blocks. Defaults to 0.1.
        init_std (float): std of the normal init of Linear/Embedding weights.
            Defaults to 0.02.
        pack_ratio (float): skip padded positions (pack the valid rows of
            the projections, positional encodings, attention linears and
            norms) when at most this fraction of a batch's positions is
            valid; the results at valid positions are the same. ``0``
            computes every padded position, in the authors' order (their
            dropout draws for the same seed, with ``fast_dropout=False``).
            Defaults to 0.9.
        fast_dropout (bool): the training fast path on CPU: dropout of
            the projections, positional encodings, attention probabilities
            and outputs through :class:`FastDropout` (the same Bernoulli
            distribution from about ``p * n`` draws); False uses
            ``torch.nn.Dropout`` (the authors' masks for a seed). Defaults
            to True.
        attn_buckets (int): with packing, attention runs within this many
            groups of similar-length sequences, each padded only to its
            longest (see :class:`MaskedSelfAttentionBlock`). Defaults to 4.
    """

    def __init__(self,
                 video_dim: int,
                 query_dim: int,
                 hidden_dim: int = 384,
                 max_ctx_l: int = 128,
                 max_desc_l: int = 30,
                 num_heads: int = 4,
                 input_dropout: float = 0.1,
                 dropout: float = 0.1,
                 init_std: float = 0.02,
                 pack_ratio: float = 0.9,
                 fast_dropout: bool = True,
                 attn_buckets: int = 4) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.init_std = init_std
        self.pack_ratio = pack_ratio
        fast = fast_dropout
        self.query_proj = InputProjection(query_dim, hidden_dim, input_dropout,
                                          fast)
        self.query_pos = LearnedPositionalEncoding(max_desc_l, hidden_dim,
                                                   input_dropout, fast)
        self.query_encoder = MaskedSelfAttentionBlock(hidden_dim, num_heads,
                                                      dropout, fast,
                                                      attn_buckets)
        self.query_pool = AttentionPooling(hidden_dim)
        self.video_proj = InputProjection(video_dim, hidden_dim, input_dropout,
                                          fast)
        self.video_pos = LearnedPositionalEncoding(max_ctx_l, hidden_dim,
                                                   input_dropout, fast)
        self.video_encoder = MaskedSelfAttentionBlock(hidden_dim, num_heads,
                                                      dropout, fast,
                                                      attn_buckets)
        self.clip_proj = nn.Linear(hidden_dim, hidden_dim)

    def init_weights(self) -> None:
        """Normal(0, init_std) Linear/Embedding weights, zero biases,
        unit LayerNorms (the authors' ``reset_parameters``)."""
        super().init_weights()
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=self.init_std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _packing(self, mask: torch.Tensor) -> Optional[Packing]:
        if torch.compiler.is_compiling():
            return None  # compiled: static padded shapes, one graph
        return pack(mask) if worth_packing(mask, self.pack_ratio) else None

    def encode_query(self, tokens: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Encode padded token features (Nq, Lq, Dq) + mask (Nq, Lq) into
        query vectors (Nq, H) (padded tokens are skipped when packing
        pays; they never change the pooled vectors)."""
        packing = self._packing(mask)
        if packing is None:
            x = self.query_encoder(
                self.query_pos(self.query_proj(tokens)), mask)
        else:
            x = self.query_proj.project(gather_rows(tokens, packing))
            x = self.query_encoder.forward_rows(
                self.query_pos.forward_rows(x, packing), packing)
            x = scatter_rows(x, packing)
        return self.query_pool(x, mask)

    def encode_video(self,
                     clips: torch.Tensor,
                     mask: torch.Tensor,
                     exact_padding: bool = True) -> torch.Tensor:
        """Encode padded clip features (Nv, L, Dv) + mask (Nv, L) into clip
        vectors (Nv, L, H).

        Args:
            clips (Tensor): (Nv, L, Dv) clip features, zero padded.
            mask (Tensor): (Nv, L), 1 = valid clip.
            exact_padding (bool): compute the padded positions as the
                authors' model does (they are masked later; parity tests
                compare them). ``False`` skips them when packing pays and
                leaves zeros there (what the training losses use).
                Defaults to True.

        Returns:
            Tensor: (Nv, L, H).
        """
        packing = self._packing(mask)
        if packing is None or exact_padding:
            x = self.video_proj(clips, None if packing is None else mask)
            x = self.video_encoder(self.video_pos(x), mask)
            return self.clip_proj(x)
        x = self.video_proj.project(gather_rows(clips, packing))
        x = self.video_encoder.forward_rows(
            self.video_pos.forward_rows(x, packing), packing)
        return scatter_rows(self.clip_proj(x), packing)
