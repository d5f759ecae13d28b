"""Packed (valid rows only) paths of the branch layers equal the padded ones,
and one query x clip product gives both max-over-clips scores."""
import pytest
import torch

from prvr_mm.models import clip_scores, masked_clip_scores
from prvr_mm.models.layers import (InputProjection, LearnedPositionalEncoding,
                                   MaskedSelfAttentionBlock, gather_rows, pack,
                                   scatter_rows)


def _batch(n=5, length=7, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 5, 1, 6])[:n]
    mask = (torch.arange(length)[None] < lengths[:, None]).float()
    x = torch.randn(n, length, dim, generator=g) * mask[..., None]
    return x, mask


def test_pack_gather_scatter_roundtrip():
    x, mask = _batch()
    packing = pack(mask)
    rows = gather_rows(x, packing)
    assert rows.shape == (int(mask.sum()), x.shape[-1])
    assert torch.equal(packing.position,
                       torch.cat([torch.arange(int(n)) for n in mask.sum(1)]))
    assert torch.equal(scatter_rows(rows, packing), x)
    fill = torch.full((1, x.shape[-1]), 9.)
    out = scatter_rows(rows, packing, fill=fill)
    assert torch.equal(out[mask.bool()], x[mask.bool()])
    assert bool((out[~mask.bool()] == 9.).all())


def test_packed_layers_match_padded_layers():
    torch.manual_seed(0)
    x, mask = _batch(dim=8)
    proj = InputProjection(8, 12).eval()
    posenc = LearnedPositionalEncoding(7, 12).eval()
    attn = MaskedSelfAttentionBlock(12, num_heads=3).eval()
    for m in (proj, posenc, attn):  # non-trivial norms and biases
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.3)
    valid = mask.bool()
    # input projection: valid rows packed, padding = projection of zeros
    torch.testing.assert_close(proj(x, mask), proj(x), rtol=1e-6, atol=1e-6)
    # the whole chain on packed rows equals the padded chain at valid rows
    padded = attn(posenc(proj(x)), mask)
    packing = pack(mask)
    rows = attn.forward_rows(
        posenc.forward_rows(proj.project(gather_rows(x, packing)), packing),
        packing)
    torch.testing.assert_close(rows, padded[valid], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_one_product_scores_match_two_products(dtype):
    g = torch.Generator().manual_seed(1)
    query = torch.randn(6, 5, generator=g, dtype=dtype, requires_grad=True)
    clips = torch.randn(4, 3, 5, generator=g, dtype=dtype, requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 1, 1]],
                        dtype=dtype)
    cos, clip_cos = masked_clip_scores(query, clips, mask)
    raw, _ = masked_clip_scores(query, clips, mask, normalize=False)
    fast = clip_scores(query, clips, mask, with_clip_cos=True)
    tol = dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.cos_max, cos, **tol)
    torch.testing.assert_close(fast.raw_max, raw, **tol)
    valid = mask.bool().t()[None].expand_as(clip_cos)
    torch.testing.assert_close(fast.clip_cos[valid], clip_cos[valid], **tol)
    assert bool((fast.clip_cos[~valid] <= torch.finfo(dtype).min / 2).all())
    # gradients of a loss on all three outputs agree as well
    w = torch.randn(6, 4, generator=g, dtype=dtype)

    def grads(c, r, cc):
        loss = (c * w).sum() + (r * w).sum() + cc[valid].pow(2).sum()
        return torch.autograd.grad(loss, (query, clips))

    for a, b in zip(
            grads(fast.cos_max, fast.raw_max, fast.clip_cos),
            grads(cos, raw, clip_cos)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
