"""DualStudentRecognizer, PRVRBranch, PRVRDataPreprocessor, CLIPTeacherHead
on small inputs."""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.structures import BaseDataElement

BRANCH = dict(
    type='PRVRBranch',
    video_dim=12,
    query_dim=10,
    hidden_dim=8,
    max_ctx_l=6,
    max_desc_l=5,
    num_heads=2)


def build(**kwargs):
    cfg = dict(
        type='DualStudentRecognizer',
        inheritance=BRANCH,
        teacher=dict(type='CLIPTeacherHead', feature_dim=4),
        loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def raw_batch(counts=(2, 1, 3), lengths=(6, 3, 4), teacher=True):
    g = torch.Generator().manual_seed(0)
    inputs = dict(video=[], queries=[], query_lengths=[])
    if teacher:
        inputs.update(teacher_video=[], teacher_queries=[])
    samples = []
    for i, (n, t) in enumerate(zip(counts, lengths)):
        inputs['video'].append(torch.randn(t, 12, generator=g))
        q_len = torch.randint(2, 6, (n, ), generator=g)
        inputs['queries'].append(
            torch.randn(n, int(q_len.max()), 10, generator=g))
        inputs['query_lengths'].append(q_len)
        if teacher:
            inputs['teacher_video'].append(torch.randn(t, 4, generator=g))
            inputs['teacher_queries'].append(torch.randn(n, 4, generator=g))
        samples.append(
            BaseDataElement(
                metainfo=dict(
                    video_id=f'v{i}',
                    query_ids=[f'v{i}#enc#{k}' for k in range(n)])))
    return dict(inputs=inputs, data_samples=samples)


def test_preprocessor_pads_flattens_and_sorts():
    model = build()
    data = model.data_preprocessor(raw_batch(), training=True)
    x = data['inputs']
    # sorted by number of queries, descending and stable: v2(3), v0(2), v1(1)
    assert [s.video_id for s in data['data_samples']] == ['v2', 'v0', 'v1']
    assert x['video'].shape == (3, 6, 12)
    assert x['video_mask'].sum(1).tolist() == [4, 6, 3]
    assert x['query_to_video'].tolist() == [0, 0, 0, 1, 1, 2]
    assert x['query'].shape[:2] == x['query_mask'].shape
    assert x['teacher_video'].shape == (3, 6, 4)
    assert x['teacher_query'].shape == (6, 4)
    # eval keeps the dataset order
    data = model.data_preprocessor(raw_batch(), training=False)
    assert data['inputs']['query_to_video'].tolist() == [0, 0, 1, 2, 2, 2]


def test_preprocessor_rejects_misaligned_teacher():
    model = build()
    batch = raw_batch()
    batch['inputs']['teacher_video'][0] = torch.randn(5, 4)
    with pytest.raises(ValueError, match='teacher clip counts'):
        model.data_preprocessor(batch, training=True)


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


def test_positional_encoding_rejects_too_long_inputs():
    model = build()
    data = model.data_preprocessor(
        raw_batch(lengths=(7, 3, 4)), training=False)
    with pytest.raises(ValueError, match='exceeds the 6 learned positions'):
        model(**data, mode='tensor')


TINY_CLIP = dict(
    embed_dim=4,
    vision_cfg=dict(
        layers=1, width=32, head_width=16, patch_size=8, image_size=32),
    text_cfg=dict(
        context_length=16, vocab_size=100, width=32, heads=2, layers=1))


def test_clip_teacher_with_a_real_open_clip_model():
    head = MODELS.build(
        dict(
            type='CLIPTeacherHead',
            feature_dim=4,
            clip_model=dict(model_cfg=TINY_CLIP)))
    # frozen, never in train mode, never in the state dict
    head.train()
    assert not head.clip_model.training
    assert all(not p.requires_grad for p in head.clip_model.parameters())
    assert len(head.state_dict()) == 0
    frames = head.encode_frames(torch.randn(2, 3, 3, 32, 32))
    texts = head.encode_text(['a person opens the door', 'a cat'])
    assert frames.shape == (2, 3, 4) and texts.shape == (2, 4)
    out = head(frames, texts, torch.ones(2, 3))
    assert out['clip_scores'].shape == (2, 3, 2)
    assert out['max_scores'].abs().max() <= 1 + 1e-5
    with pytest.raises(ValueError, match='expected feature_dim=4'):
        head(torch.randn(2, 3, 5), texts, torch.ones(2, 3))


def test_teacher_scores_match_a_direct_computation():
    head = MODELS.build(dict(type='CLIPTeacherHead', feature_dim=4))
    v, q = torch.randn(2, 3, 4), torch.randn(5, 4)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = head(v, q, mask)
    cos = torch.nn.functional.cosine_similarity(
        q[:, None, None], v[None], dim=-1)  # (5, 2, 3)
    cos[:, 0, 2] = -2
    assert torch.allclose(out['max_scores'], cos.max(-1).values, atol=1e-6)
    raw = torch.einsum('qd,vld->qvl', q, v)
    raw[:, 0, 2] = -1e9
    assert torch.allclose(
        out['max_scores_unnorm'], raw.max(-1).values, atol=1e-5)
