"""DualStudentRecognizer and PRVRBranch on small inputs."""
import pytest
import torch

from tests.helpers.batches import build_recognizer as build
from tests.helpers.batches import raw_batch


def test_loss_mode_gives_finite_losses_and_gradients():
    model = build(label_style='soft')
    model.set_schedule(kd_weight=0.9, alpha=0.5, beta=0.6)
    model.train()
    data = model.data_preprocessor(raw_batch(), training=True)
    losses = model(**data, mode='loss')
    assert {
        'loss_inher_trip', 'loss_inher_nce', 'loss_kd', 'loss_explore_trip',
        'loss_explore_nce', 'kd_weight', 'alpha', 'beta'
    } <= set(losses)
    total, log_vars = model.parse_losses(losses)
    assert torch.isfinite(total)
    assert log_vars['kd_weight'] == pytest.approx(0.9)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_kd_weight_zero_trains_without_teacher_features():
    model = build(teacher=None)
    model.set_schedule(kd_weight=0.0)
    data = model.data_preprocessor(raw_batch(teacher=False), training=True)
    losses = model(**data, mode='loss')
    assert losses['loss_kd'].item() == 0.0
    model.set_schedule(kd_weight=0.5)
    with pytest.raises(ValueError, match='teacher'):
        model(**data, mode='loss')


def test_predict_attaches_per_video_embeddings():
    model = build().eval()
    data = model.data_preprocessor(raw_batch(), training=False)
    out = model(**data, mode='predict')
    assert [s.inher_clips.shape for s in out] == [(6, 8), (3, 8), (4, 8)]
    assert [s.explore_queries.shape[0] for s in out] == [2, 1, 3]
    enc = model(**data, mode='tensor')
    # queries of video 2 are rows 3..5 of the flat batch
    assert torch.allclose(out[2].inher_queries, enc['inher']['query'][3:])
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(**data, mode='logits')


def test_iccv_variant_shares_query_projection():
    model = build(share_query_proj=True)
    assert model.exploration.query_proj is model.inheritance.query_proj
    n_shared = sum(p.numel()
                   for p in model.inheritance.query_proj.parameters())
    n_sep = sum(p.numel() for p in build().parameters())
    assert sum(p.numel() for p in model.parameters()) == n_sep - n_shared


def test_single_branch_and_argument_checks():
    model = build(double_branch=False)
    assert model.exploration is None and list(model.branches) == ['inher']
    with pytest.raises(ValueError, match='label_style'):
        build(label_style='fuzzy')
    with pytest.raises(TypeError, match='fusion_weight'):
        build(fusion_weight=0.5)  # owned by PRVRMetric


def test_exploration_only_model_trains_without_teacher():
    from tests.helpers.batches import BRANCH
    model = build(inheritance=None, exploration=BRANCH, teacher=None)
    assert model.inheritance is None and list(model.branches) == ['explore']
    for style in ('hard', 'soft'):  # soft: the branch's own targets
        model.label_style = style
        data = model.data_preprocessor(raw_batch(teacher=False), training=True)
        losses = model(**data, mode='loss')  # kd_weight 1: no teacher asked
        assert {k
                for k in losses if k.startswith('loss')
                } == {'loss_explore_trip', 'loss_explore_nce'}
        assert 'kd_weight' not in losses
    out = model(
        **model.data_preprocessor(raw_batch(), training=False), mode='predict')
    assert [s.explore_clips.shape for s in out] == [(6, 8), (3, 8), (4, 8)]
    assert 'inher_clips' not in out[0]
    with pytest.raises(ValueError, match='exploration branch'):
        build(inheritance=None)
    with pytest.raises(ValueError, match='exploration branch'):
        build(inheritance=None, exploration=BRANCH, double_branch=False)
    with pytest.raises(ValueError, match='share_query_proj'):
        build(inheritance=None, exploration=BRANCH, share_query_proj=True)


def test_positional_encoding_rejects_too_long_inputs():
    model = build()
    data = model.data_preprocessor(
        raw_batch(lengths=(7, 3, 4)), training=False)
    with pytest.raises(ValueError, match='exceeds the 6 learned positions'):
        model(**data, mode='tensor')


def test_set_schedule_is_the_one_way_in():
    model = build(label_style='soft')
    # neutral start: full distillation, every row hard, one-hot targets
    assert (model.kd_weight, model.alpha, model.beta) == (1.0, 1.0, 1.0)
    model.set_schedule(alpha=0.3)
    assert (model.kd_weight, model.alpha, model.beta) == (1.0, 0.3, 1.0)
    model.set_schedule(kd_weight=0.0, beta=0.5)
    assert (model.kd_weight, model.alpha, model.beta) == (0.0, 0.3, 0.5)
    for bad in (dict(kd_weight=-0.1), dict(alpha=1.5), dict(beta=-1.0),
                dict(alpha=float('nan'))):
        with pytest.raises(ValueError, match=next(iter(bad))):
            model.set_schedule(**bad)
    with pytest.raises(TypeError):
        model.set_schedule(fusion_weight=0.5)
    for name in ('kd_weight', 'alpha', 'beta'):
        with pytest.raises(TypeError, match=name):
            build(**{name: 0.5})  # the hook's settings own them
