"""One student branch: encodes queries to vectors, videos to clip vectors."""
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..layers import (AttentionPooling, InputProjection,
                      LearnedPositionalEncoding, MaskedSelfAttentionBlock)


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
                 init_std: float = 0.02) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.init_std = init_std
        self.query_proj = InputProjection(query_dim, hidden_dim, input_dropout)
        self.query_pos = LearnedPositionalEncoding(max_desc_l, hidden_dim,
                                                   input_dropout)
        self.query_encoder = MaskedSelfAttentionBlock(hidden_dim, num_heads,
                                                      dropout)
        self.query_pool = AttentionPooling(hidden_dim)
        self.video_proj = InputProjection(video_dim, hidden_dim, input_dropout)
        self.video_pos = LearnedPositionalEncoding(max_ctx_l, hidden_dim,
                                                   input_dropout)
        self.video_encoder = MaskedSelfAttentionBlock(hidden_dim, num_heads,
                                                      dropout)
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

    def encode_query(self, tokens: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Encode padded token features (Nq, Lq, Dq) + mask (Nq, Lq) into
        query vectors (Nq, H)."""
        x = self.query_encoder(self.query_pos(self.query_proj(tokens)), mask)
        return self.query_pool(x, mask)

    def encode_video(self, clips: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Encode padded clip features (Nv, L, Dv) + mask (Nv, L) into clip
        vectors (Nv, L, H); padded positions are computed but meaningless."""
        x = self.video_encoder(self.video_pos(self.video_proj(clips)), mask)
        return self.clip_proj(x)
