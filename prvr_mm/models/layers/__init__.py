from .attention import MaskedSelfAttentionBlock
from .dropout import FastDropout, drop_positions, fast_dropout
from .embeddings import InputProjection, LearnedPositionalEncoding
from .packing import Packing, gather_rows, pack, scatter_rows, worth_packing
from .pooling import AttentionPooling

__all__ = [
    'MaskedSelfAttentionBlock', 'InputProjection', 'LearnedPositionalEncoding',
    'AttentionPooling', 'Packing', 'pack', 'gather_rows', 'scatter_rows',
    'worth_packing', 'FastDropout', 'drop_positions', 'fast_dropout'
]
