"""The training fast path's own kernels equal the plain computation:
drop-position dropout, LayerNorm + dropout + linear in one function, the
max-over-clips op with its sparse backward, attention within length
buckets."""
import pytest
import torch
import torch.nn.functional as F

import prvr_mm.models.layers.embeddings as embeddings
from prvr_mm.models import clip_scores, masked_clip_scores
from prvr_mm.models.layers import (FastDropout, InputProjection,
                                   MaskedSelfAttentionBlock, drop_positions,
                                   gather_rows, pack, scatter_rows)
from prvr_mm.models.layers.packing import permute_rows, split_by_length


def test_drop_positions_is_a_bernoulli_process():
    torch.manual_seed(0)
    n, p = 200_000, 0.1
    pos = drop_positions(n, p, torch.device('cpu'))
    assert pos.dtype == torch.int64
    assert bool((pos[1:] > pos[:-1]).all()) and 0 <= pos[0] and pos[-1] < n
    sd = (n * p * (1 - p))**0.5
    assert abs(len(pos) - n * p) < 5 * sd
    # consecutive drops as often as independence says (p of the drops)
    adjacent = float((pos[1:] - pos[:-1] == 1).float().mean())
    assert adjacent == pytest.approx(p, abs=0.01)
    # every position of a short mask dropped with probability p, pairs p^2
    draws = torch.zeros(4000, 6)
    for i in range(len(draws)):
        draws[i, drop_positions(6, p, torch.device('cpu'))] = 1
    assert torch.allclose(draws.mean(0), torch.full((6, ), p), atol=0.02)
    both = (draws[:, :-1] * draws[:, 1:]).mean()
    assert float(both) == pytest.approx(p * p, abs=0.006)
    with pytest.raises(ValueError, match=r'in \(0, 1\)'):
        drop_positions(10, 1.0, torch.device('cpu'))


def test_drop_positions_draws_more_rounds_when_needed(monkeypatch):
    torch.manual_seed(0)
    calls = []
    rand = torch.rand

    def short_rand(size, **kwargs):  # a round covering only a few gaps
        calls.append(size)
        return rand(min(size, 7), **kwargs)

    monkeypatch.setattr(torch, 'rand', short_rand)
    pos = drop_positions(5000, 0.2, torch.device('cpu'))
    assert len(calls) > 10  # many rounds, glued at the right offsets
    assert bool((pos[1:] > pos[:-1]).all()) and int(pos[-1]) < 5000
    assert abs(len(pos) - 1000) < 5 * (5000 * 0.2 * 0.8)**0.5


def test_fast_dropout_zeroes_and_scales_its_positions():
    torch.manual_seed(0)
    drop = FastDropout(0.25).train()
    x = torch.randn(50, 40, requires_grad=True)
    out = drop(x)
    dropped = out == 0
    assert 0.15 < float(dropped.float().mean()) < 0.35
    torch.testing.assert_close(out[~dropped], x[~dropped] / 0.75)
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, (~dropped).float() / 0.75)
    assert torch.equal(drop.eval()(x), x)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('data_input', [False, True])
def test_input_projection_fused_path_equals_its_composition(
        dtype, data_input, monkeypatch):
    """Both backward paths: with an input gradient, and for data (no
    input gradient: the LayerNorm's affine gradients block by block, here
    blocks of 4 rows so dropped positions fall in every block and the last
    block is short)."""
    torch.manual_seed(0)
    proj = InputProjection(48, 7, dropout=0.3).train().to(dtype)
    for param in proj.parameters():
        torch.nn.init.normal_(param, std=0.5)
    x = torch.randn(3, 9, 48, dtype=dtype, requires_grad=not data_input)
    monkeypatch.setattr(embeddings, 'AFFINE_GRAD_BLOCK', 4)
    pos = drop_positions(x.numel(), 0.3, x.device)
    monkeypatch.setattr(embeddings, 'drop_positions', lambda *a: pos)
    out = proj.project(x)
    keep = torch.ones(x.numel(), dtype=torch.bool)
    keep[pos] = False
    ref = F.relu(
        proj.linear(torch.where(keep.view(x.shape), proj.norm(x), 0.0) / 0.7))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn_like(out)
    inputs = ([] if data_input else [x]) + list(proj.parameters())
    for a, b in zip(
            torch.autograd.grad((out * g).sum(), inputs),
            torch.autograd.grad((ref * g).sum(), inputs)):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('full', [False, True])
def test_max_over_clips_op_equals_the_dense_scores(dtype, full):
    g = torch.Generator().manual_seed(3)
    query = torch.randn(7, 5, generator=g, dtype=dtype, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0],
                         [1, 0, 0, 0], [1, 1, 1, 1]],
                        dtype=dtype)
    if full:  # every clip valid: the product over all clips, no packing
        mask = torch.ones_like(mask)
    clips = (torch.randn(5, 4, 5, generator=g, dtype=dtype) *
             mask[..., None]).requires_grad_()  # zero padding, as packed
    labels = torch.tensor([0, 1, 1, 2, 3, 4, 4])
    fast = clip_scores(query, clips, mask, query_to_video=labels)
    assert fast.clip_cos is None
    cos, per_clip = masked_clip_scores(query, clips, mask)
    raw, _ = masked_clip_scores(query, clips, mask, normalize=False)
    own = per_clip[torch.arange(7), :,
                   labels].masked_fill(mask[labels] == 0, 0)
    tol = dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.cos_max, cos, **tol)
    torch.testing.assert_close(fast.raw_max, raw, **tol)
    torch.testing.assert_close(fast.pos_cos, own, **tol)
    w = torch.randn(7, 5, 3, generator=g, dtype=dtype)

    def grads(c, r, o):
        loss = (c * w[..., 0]).sum() + (r * w[..., 1]).sum() + \
            (o * w[:, :4, 2]).sum()
        return torch.autograd.grad(loss, (query, clips))

    for a, b in zip(
            grads(fast.cos_max, fast.raw_max, fast.pos_cos),
            grads(cos, raw, own)):
        torch.testing.assert_close(a, b, **tol)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            lambda q, c: clip_scores(q, c, mask, query_to_video=labels)[::3],
            (query, clips))


def test_permute_rows_gradient_is_the_inverse_permutation():
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(7)
    out = permute_rows(x, order, inverse)
    assert torch.equal(out, x[order])
    assert torch.equal(permute_rows(out, inverse, order), x)
    torch.autograd.gradcheck(lambda t: permute_rows(t, order, inverse), (x, ))


def test_length_buckets_cover_every_row_once():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1],
                         [1, 1, 0, 0, 0], [0, 1, 1, 0, 0]]).bool()
    packing = pack(mask)
    x = torch.randn(5, 5, 3) * mask[..., None]
    rows = gather_rows(x, packing)
    buckets = split_by_length(packing, 2)
    assert [sub.mask.shape for _, sub in buckets] == [(3, 3), (2, 5)]
    seen = torch.cat([r for r, _ in buckets])
    assert sorted(seen.tolist()) == list(range(len(rows)))
    for r, sub in buckets:
        padded = scatter_rows(rows[r], sub)
        assert torch.equal(gather_rows(padded, sub), rows[r])
        assert torch.equal(padded != 0, sub.mask[..., None].expand_as(padded))


@pytest.mark.parametrize('train', [False, True])
def test_bucketed_attention_equals_padded_attention(train):
    torch.manual_seed(0)
    lengths = torch.tensor([9, 2, 5, 7, 1, 3, 8, 4, 6, 9, 2, 5])
    mask = torch.arange(9)[None] < lengths[:, None]
    block = MaskedSelfAttentionBlock(12, num_heads=3, dropout=0.2, buckets=3)
    for param in block.parameters():
        torch.nn.init.normal_(param, std=0.3)
    x = torch.randn(12, 9, 12) * mask[..., None]
    packing = pack(mask)
    rows = gather_rows(x, packing).requires_grad_()
    padded = block.eval()(x, mask)[mask]
    if train:  # the explicit fast path, dropping (almost surely) nothing
        block.attn_drop.p = block.out_drop.p = 1e-9
        block.train()
        assert block._explicit()
    out = block.forward_rows(rows, packing)
    torch.testing.assert_close(out, padded, rtol=1e-5, atol=1e-5)
    block.buckets = 1
    ref_rows = rows.detach().clone().requires_grad_()
    ref = block.forward_rows(ref_rows, packing)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    (ref * g).sum().backward()
    torch.testing.assert_close(rows.grad, ref_rows.grad, rtol=1e-5, atol=1e-5)
