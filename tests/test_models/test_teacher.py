"""CLIPTeacherHead: scores from precomputed CLIP features, and a real (tiny,
randomly initialised) open_clip model kept frozen and out of checkpoints."""
import open_clip
import pytest
import torch
from mmaction.registry import MODELS

# STACK.md item 14: small towers, the real vocabulary and context length so
# that the ViT-B-32 tokenizer's ids fit
TINY_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(
        layers=1, width=32, head_width=16, patch_size=8, image_size=32),
    text_cfg=dict(
        context_length=77, vocab_size=49408, width=32, heads=2, layers=1))


@pytest.fixture(scope='module')
def head():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='CLIPTeacherHead',
            feature_dim=32,
            clip_model=dict(model_cfg=TINY_CLIP)))


def test_clip_model_is_frozen_and_not_saved(head):
    head.train()
    assert head.training and not head.clip_model.training
    assert all(not p.requires_grad for p in head.clip_model.parameters())
    assert len(head.state_dict()) == 0
    assert list(head.parameters()) == []
    head.to(torch.float64)  # moves with the head
    assert next(head.clip_model.parameters()).dtype == torch.float64
    head.to(torch.float32)


def test_encoders_match_open_clip(head):
    frames = torch.randn(2, 3, 3, 32, 32)
    feats = head.encode_frames(frames)
    assert feats.shape == (2, 3, 32)
    with torch.no_grad():
        direct = head.clip_model.encode_image(frames.flatten(0, 1))
    assert torch.allclose(feats.flatten(0, 1), direct, atol=1e-5)
    sentences = ['a person opens the door', 'a cat sleeps']
    texts = head.encode_text(sentences)
    tokens = open_clip.get_tokenizer('ViT-B-32')(sentences)
    with torch.no_grad():
        assert torch.allclose(
            texts, head.clip_model.encode_text(tokens), atol=1e-5)
    assert torch.allclose(head.encode_text(tokens), texts)
    out = head(feats, texts, torch.ones(2, 3))
    assert out['clip_scores'].shape == (2, 3, 2)
    assert out['max_scores'].abs().max() <= 1 + 1e-5


def test_token_ids_outside_the_vocabulary_are_an_error():
    small = dict(
        TINY_CLIP, text_cfg=dict(TINY_CLIP['text_cfg'], vocab_size=100))
    head = MODELS.build(
        dict(
            type='CLIPTeacherHead',
            feature_dim=32,
            clip_model=dict(model_cfg=small)))
    with pytest.raises(ValueError, match='vocabulary of 100 tokens'):
        head.encode_text(['a person opens the door'])


def test_scores_match_a_direct_computation():
    head = MODELS.build(dict(type='CLIPTeacherHead', feature_dim=4))
    v, q = torch.randn(2, 3, 4), torch.randn(5, 4)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = head(v, q, mask)
    cos = torch.nn.functional.cosine_similarity(
        q[:, None, None], v[None], dim=-1)  # (5, 2, 3)
    assert torch.allclose(
        out['clip_scores'][:, :2, 1], cos[:, 1, :2], atol=1e-6)
    cos[:, 0, 2] = -2
    assert torch.allclose(out['max_scores'], cos.max(-1).values, atol=1e-6)
    raw = torch.einsum('qd,vld->qvl', q, v)
    raw[:, 0, 2] = -1e9
    assert torch.allclose(
        out['max_scores_unnorm'], raw.max(-1).values, atol=1e-5)


def test_bad_inputs_are_named():
    head = MODELS.build(dict(type='CLIPTeacherHead', feature_dim=4))
    with pytest.raises(ValueError, match='expected feature_dim=4'):
        head(torch.randn(2, 3, 5), torch.randn(2, 4), torch.ones(2, 3))
    with pytest.raises(ValueError, match='not aligned'):
        head(torch.randn(2, 3, 4), torch.randn(2, 4), torch.ones(2, 4))
    with pytest.raises(RuntimeError, match='without clip_model'):
        head.encode_text(['x'])
