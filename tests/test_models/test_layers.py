"""The layers of a PRVR branch: masked self-attention, input projection,
learned positional encoding, attention pooling."""
import pytest
import torch

from prvr_mm.models.layers import (AttentionPooling, InputProjection,
                                   LearnedPositionalEncoding,
                                   MaskedSelfAttentionBlock)


def _mask(lengths, max_len):
    return (torch.arange(max_len)[None] < torch.tensor(lengths)[:, None])


def test_attention_ignores_padding():
    torch.manual_seed(0)
    block = MaskedSelfAttentionBlock(8, num_heads=2, dropout=0.0).eval()
    x = torch.randn(2, 5, 8)
    mask = _mask([3, 5], 5).float()
    out = block(x, mask)
    assert out.shape == (2, 5, 8)
    noisy = x.clone()
    noisy[0, 3:] = 100.0  # padded positions of video 0
    again = block(noisy, mask)
    assert torch.allclose(out[0, :3], again[0, :3], atol=1e-6)
    assert torch.allclose(out[1], again[1])
    # without a mask the padding is attended to
    assert not torch.allclose(block(noisy)[0, :3], out[0, :3], atol=1e-3)


def test_attention_mask_is_safe_in_half_precision():
    torch.manual_seed(0)
    block = MaskedSelfAttentionBlock(8, num_heads=2, dropout=0.0).eval()
    block = block.to(torch.bfloat16)
    x = torch.randn(2, 4, 8, dtype=torch.bfloat16)
    out = block(x, _mask([1, 4], 4).float())
    assert torch.isfinite(out).all()


def test_attention_checks_heads():
    with pytest.raises(ValueError, match='not a multiple of num_heads=3'):
        MaskedSelfAttentionBlock(8, num_heads=3)


def test_input_projection_shape_and_relu():
    torch.manual_seed(0)
    proj = InputProjection(6, 4, dropout=0.0)
    out = proj(torch.randn(3, 7, 6))
    assert out.shape == (3, 7, 4) and (out >= 0).all() and (out > 0).any()


def test_positional_encoding_adds_positions_and_checks_length():
    torch.manual_seed(0)
    pos = LearnedPositionalEncoding(4, 8, dropout=0.0)
    x = torch.randn(1, 1, 8).expand(1, 3, 8)  # the same vector 3 times
    out = pos(x)
    assert out.shape == (1, 3, 8)
    assert not torch.allclose(out[0, 0], out[0, 1])
    expected = torch.nn.functional.layer_norm(x + pos.embedding.weight[:3],
                                              (8, ), pos.norm.weight,
                                              pos.norm.bias)
    assert torch.allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match='exceeds the 4 learned positions'):
        pos(torch.randn(1, 5, 8))


def test_attention_pooling_uses_valid_tokens_only():
    torch.manual_seed(0)
    pool = AttentionPooling(8)
    x = torch.randn(2, 4, 8)
    mask = _mask([1, 3], 4).float()
    out = pool(x, mask)
    assert out.shape == (2, 8)
    assert torch.allclose(out[0], x[0, 0], atol=1e-6)  # one valid token
    weights = pool.score(x[1, :3]).squeeze(-1).softmax(0)
    assert torch.allclose(out[1], weights @ x[1, :3], atol=1e-6)
