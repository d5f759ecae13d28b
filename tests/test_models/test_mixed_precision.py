"""Mixed-precision numerics of the student on CPU: loss and predict modes
under ``torch.autocast('cpu', dtype=bfloat16 | float16)`` give finite float32
losses and gradients, and scores close to float32.

Tolerances (bf16 keeps 8 mantissa bits, ~0.4 % per rounding; fp16 11 bits):
losses within 2 % relative (+0.005 absolute) of float32, query x video
cosine scores within 0.03 absolute.  ``--amp`` itself (``AmpOptimWrapper``)
needs CUDA and is not exercised here.
"""
import pytest
import torch
from mmaction.registry import MODELS

from prvr_mm.models import masked_clip_scores
from tests.helpers.batches import BRANCH, raw_batch

NO_DROPOUT = dict(BRANCH, input_dropout=0.0, dropout=0.0)
DTYPES = [torch.bfloat16, torch.float16]


def build():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=NO_DROPOUT,
            teacher=dict(type='CLIPTeacherHead', feature_dim=4),
            loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1),
            label_style='soft'))
    model.init_weights()
    model.set_schedule(kd_weight=0.9, alpha=0.5, beta=0.6)
    return model


def run_loss(model, dtype=None):
    model.zero_grad()
    data = model.data_preprocessor(raw_batch(lengths=(6, 2, 4)), training=True)
    with torch.autocast(
            'cpu', dtype=dtype or torch.float32, enabled=dtype is not None):
        losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return losses, grads


def fused_scores(model, dtype=None):
    data = model.data_preprocessor(raw_batch(lengths=(6, 2, 4)))
    with torch.no_grad(), torch.autocast(
            'cpu', dtype=dtype or torch.float32, enabled=dtype is not None):
        out = model(**data, mode='predict')
    scores = []
    for name in ('inher', 'explore'):
        clips = [s.get(f'{name}_clips') for s in out]
        assert all(c.dtype == torch.float32 for c in clips)
        mask = torch.zeros(len(clips), 6)
        padded = torch.zeros(len(clips), 6, clips[0].shape[1])
        for i, c in enumerate(clips):
            padded[i, :len(c)], mask[i, :len(c)] = c, 1
        queries = torch.cat([s.get(f'{name}_queries') for s in out])
        scores.append(masked_clip_scores(queries, padded, mask)[0])
    return torch.stack(scores)


@pytest.mark.parametrize('dtype', DTYPES)
def test_loss_under_autocast_is_finite_and_close(dtype):
    model = build()
    ref, ref_grads = run_loss(model)
    losses, grads = run_loss(model, dtype)
    for key, value in ref.items():
        if 'loss' not in key:
            continue
        assert losses[key].dtype == torch.float32, key
        assert torch.isfinite(losses[key]), key
        assert abs(losses[key].item() - value.item()) <= \
            0.02 * abs(value.item()) + 0.005, (key, losses[key], value)
    assert ref['loss_kd'] > 0
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name
    flat = torch.cat([g.flatten() for g in grads.values()])
    ref_flat = torch.cat([g.flatten() for g in ref_grads.values()])
    cos = torch.nn.functional.cosine_similarity(flat, ref_flat, dim=0)
    assert cos > 0.99


@pytest.mark.parametrize('dtype', DTYPES)
def test_predict_under_autocast_scores_close_to_float32(dtype):
    model = build().eval()
    ref = fused_scores(model)
    scores = fused_scores(model, dtype)
    assert torch.isfinite(scores).all()
    assert (scores - ref).abs().max() < 0.03


def test_masks_use_the_dtype_minimum():
    """A padded clip never wins the max, in every precision, and fp16 masks
    do not overflow (a literal like -1e10 would)."""
    q, clips = torch.randn(3, 8), torch.randn(2, 4, 8)
    clips[:, 2:] = 100.0  # padding with huge scores
    mask = torch.tensor([[1., 1., 0., 0.], [1., 1., 1., 0.]])
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        best, per_clip = masked_clip_scores(
            q.to(dtype), clips.to(dtype), mask, normalize=False)
        ref = torch.einsum('qh,vlh->qvl', q, clips)
        ref = ref.masked_fill(mask[None] == 0, float('-inf')).amax(-1)
        assert torch.allclose(best.float(), ref, rtol=0.02, atol=0.5)
        assert per_clip.min() == torch.finfo(dtype).min
