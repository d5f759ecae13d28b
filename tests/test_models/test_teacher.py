"""CLIPTeacherHead: scores from precomputed CLIP features, and a real (tiny,
randomly initialised) open_clip model kept frozen and out of checkpoints,
encoding raw frames and caption strings online exactly as the precomputed
features would."""
import os.path as osp

import numpy as np
import open_clip
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.dataset import Compose

from prvr_mm.datasets.layout import video_id_of
from prvr_mm.datasets.readers import parse_caption_file
# STACK.md item 14: small towers, the real vocabulary and context length so
# that the ViT-B-32 tokenizer's ids fit (one definition, prvr-tiny-clip)
from prvr_mm.models.teachers.open_clip_utils import TINY_CLIP_CFG as TINY_CLIP

ONLINE = dict(model_cfg=TINY_CLIP)


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
    # with each query's video: its per-clip cosines only, same maxima
    labels = torch.tensor([1, 0, 1, 1, 0])
    own = head(v, q, mask, labels)
    assert 'clip_scores' not in own
    expected = out['clip_scores'][torch.arange(5), :, labels]
    expected = expected.masked_fill(mask[labels] == 0, 0)
    assert torch.allclose(own['pos_clip_scores'], expected, atol=1e-6)
    for key in ('max_scores', 'max_scores_unnorm'):
        assert torch.allclose(own[key], out[key], atol=1e-6)


def test_bad_inputs_are_named():
    head = MODELS.build(dict(type='CLIPTeacherHead', feature_dim=4))
    with pytest.raises(ValueError, match='expected feature_dim=4'):
        head(torch.randn(2, 3, 5), torch.randn(2, 4), torch.ones(2, 3))
    with pytest.raises(ValueError, match='not aligned'):
        head(torch.randn(2, 3, 4), torch.randn(2, 4), torch.ones(2, 4))
    with pytest.raises(RuntimeError, match='without clip_model'):
        head.encode_text(['x'])


# --- online mode: raw frames and caption strings inside the step ---


def _head():
    return MODELS.build(
        dict(type='CLIPTeacherHead', feature_dim=32, clip_model=ONLINE))


def _decoded_videos(root, n=3, num_clips=5, clip_len=3):
    """Decode ``n`` toy videos with the raw pipeline; keep the full-size
    decoded frames and the teacher frames of CLIPTeacherFrames."""
    decode = Compose([
        dict(type='CheckedPyAVInit'),
        dict(
            type='SampleFrames',
            clip_len=clip_len,
            frame_interval=1,
            num_clips=num_clips,
            test_mode=True),
        dict(type='CheckedPyAVDecode'),
    ])
    teacher_frames = Compose(
        [dict(type='CLIPTeacherFrames', clip_model=ONLINE)])
    pairs = parse_caption_file(
        osp.join(root, 'TextData', 'toyvidtrain.caption.txt'))
    vids = [
        v for v in dict.fromkeys(video_id_of(c) for c, _ in pairs)
        if osp.isfile(osp.join(root, 'videos', v + '.mp4'))
    ][:n]
    out = []
    for vid in vids:
        results = decode(
            dict(
                filename=osp.join(root, 'videos', vid + '.mp4'),
                start_index=0,
                modality='RGB'))
        centres = np.arange(num_clips) * clip_len + clip_len // 2
        full = [results['imgs'][c] for c in centres]
        frames = teacher_frames(results)['teacher_frames']
        sentences = [s for c, s in pairs if video_id_of(c) == vid]
        out.append((full, frames, sentences))
    return out


def _precomputed(head, videos):
    """Teacher features the offline way: open_clip's own transform on each
    PIL frame (what create_model_and_transforms returns) and its
    tokenizer."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image
    model = head.clip_model
    preprocess = image_transform_v2(
        PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    tokenizer = open_clip.get_tokenizer('ViT-B-32')
    with torch.no_grad():
        video = torch.stack([
            model.encode_image(
                torch.stack([preprocess(Image.fromarray(f)) for f in full]))
            for full, _, _ in videos
        ])
        query = model.encode_text(
            tokenizer([s for _, _, sents in videos for s in sents]))
    return video, query


def test_online_and_precomputed_teacher_give_the_same_scores(tiny_raw_root):
    head = _head()
    videos = _decoded_videos(tiny_raw_root)
    # frames keep the decoded resolution until CLIPTeacherFrames: 64 -> 32
    assert videos[0][0][0].shape == (64, 64, 3)
    assert videos[0][1].shape == (5, 32, 32, 3)
    pre_video, pre_query = _precomputed(head, videos)

    frames = torch.stack(
        [torch.from_numpy(f).permute(0, 3, 1, 2) for _, f, _ in videos])
    mask = torch.ones(frames.shape[:2])
    mask[1, 3:] = 0  # a shorter video: padded frames are never encoded
    online = dict(
        teacher_frames=frames,
        teacher_text=[s for _, _, sents in videos for s in sents],
        video_mask=mask)
    on_video, on_query = head.teacher_features(online)
    assert torch.allclose(
        on_video[mask.bool()], pre_video[mask.bool()], atol=1e-5)
    assert on_video[1, 3:].abs().sum() == 0
    assert torch.allclose(on_query, pre_query, atol=1e-5)

    out_on = head(on_video, on_query, mask)
    out_pre = head(pre_video, pre_query, mask)
    assert set(out_on) == {'clip_scores', 'max_scores', 'max_scores_unnorm'}
    for key in out_on:
        assert torch.allclose(out_on[key], out_pre[key], atol=1e-5), key

    # a preprocessing slip (no CLIP mean/std) is visible in the scores
    wrong = head.encode_frames(frames.float().div(255), mask)
    assert not torch.allclose(
        head(wrong, on_query, mask)['clip_scores'],
        out_pre['clip_scores'],
        atol=1e-3)


def test_losses_do_not_care_which_mode_fed_the_teacher(tiny_raw_root):
    videos = _decoded_videos(tiny_raw_root, n=2)
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=dict(
                type='PRVRBranch',
                video_dim=12,
                query_dim=10,
                hidden_dim=8,
                max_ctx_l=5,
                max_desc_l=6,
                num_heads=2),
            teacher=dict(
                type='CLIPTeacherHead', feature_dim=32, clip_model=ONLINE),
            loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1),
            label_style='soft'))
    model.set_schedule(kd_weight=0.8, alpha=0.5, beta=0.6)
    model.init_weights()
    model.eval()  # no dropout: two calls must agree
    sentences = [s for _, _, sents in videos for s in sents]
    counts = [len(sents) for _, _, sents in videos]
    g = torch.Generator().manual_seed(0)
    base = dict(
        video=torch.randn(2, 5, 12, generator=g),
        video_mask=torch.ones(2, 5),
        query=torch.randn(len(sentences), 6, 10, generator=g),
        query_mask=torch.ones(len(sentences), 6),
        query_to_video=torch.repeat_interleave(
            torch.arange(2), torch.tensor(counts)))
    frames = torch.stack(
        [torch.from_numpy(f).permute(0, 3, 1, 2) for _, f, _ in videos])
    pre_video, pre_query = _precomputed(model.teacher, videos)
    pre = model(
        dict(base, teacher_video=pre_video, teacher_query=pre_query),
        mode='loss')
    online = model(
        dict(base, teacher_frames=frames, teacher_text=sentences), mode='loss')
    assert pre['loss_kd'] > 0
    for key in pre:
        assert torch.allclose(pre[key], online[key], atol=1e-5), key


def test_teacher_preprocessing_comes_from_the_open_clip_model():
    head = _head()
    # built (weights loaded) only when first needed: tests and inference
    # of an online-teacher config never load CLIP
    assert head._clip is None and head.clip_cfg == ONLINE
    assert head.clip_model is not None and head._clip is not None
    # random weights come from a fixed seed, whatever the global RNG
    other = MODELS.build(
        dict(type='CLIPTeacherHead', feature_dim=32, clip_model=ONLINE))
    torch.rand(3)
    assert torch.equal(other.clip_model.visual.conv1.weight,
                       head.clip_model.visual.conv1.weight)
    pp = head.clip_model.visual.preprocess_cfg
    assert head.preprocess_cfg == pp
    # CLIP's mean/std, not ImageNet's
    assert pp['mean'] == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    frames = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    x = head.normalize_frames(frames)
    assert torch.allclose(x[0, :, 0, 0], (1 - torch.tensor(pp['mean'])) /
                          torch.tensor(pp['std']))
    with pytest.raises(ValueError, match=r'expected \(\.\.\., 3, 32, 32\)'):
        head.normalize_frames(torch.zeros(2, 3, 48, 48, dtype=torch.uint8))
    # a named model resolves its pretrained tag's preprocessing offline
    from prvr_mm.models.teachers.open_clip_utils import resolve_preprocess_cfg
    pp = resolve_preprocess_cfg(
        dict(model_name='ViT-B-32-quickgelu', pretrained='openai'))
    assert pp['size'] == 224 and pp['interpolation'] == 'bicubic'


def test_clip_text_needs_the_tokenizer_vocabulary():
    # no clamping of token ids: a text tower smaller than the tokenizer's
    # vocabulary is refused when the head is built
    small = dict(
        model_cfg=dict(
            TINY_CLIP, text_cfg=dict(TINY_CLIP['text_cfg'], vocab_size=100)))
    head = MODELS.build(
        dict(type='CLIPTeacherHead', feature_dim=32, clip_model=small))
    with pytest.raises(ValueError, match='vocab_size=100'):
        head.encode_text(['a red circle moves left'])
    head = _head()
    ids = head.tokenizer(['a magenta triangle drifts down'])
    assert int(ids.max()) == 49407  # end-of-text id of CLIP's BPE
    assert head.encode_text(['a magenta triangle drifts down']).shape == (1,
                                                                          32)
