from .attention import MaskedSelfAttentionBlock
from .embeddings import InputProjection, LearnedPositionalEncoding
from .pooling import AttentionPooling

__all__ = [
    'MaskedSelfAttentionBlock', 'InputProjection', 'LearnedPositionalEncoding',
    'AttentionPooling'
]
