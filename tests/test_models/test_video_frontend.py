"""VideoBackboneFrontend: any mmaction2 backbone, per frame (2D) or per clip
(3D), frozen or fine-tuned, inside DualStudentRecognizer."""
import copy

import pytest
import torch
from mmaction.registry import MODELS

# the first stage of an mmaction2 ResNet-18: 64 channels, quick on CPU
R18_STAGE1 = dict(
    type='mmaction.ResNet',
    depth=18,
    pretrained=None,
    num_stages=1,
    out_indices=(0, ),
    strides=(1, ),
    dilations=(1, ))


def _frontend(**kwargs):
    cfg = dict(
        type='VideoBackboneFrontend', backbone=R18_STAGE1, input_format='NCHW')
    cfg.update(kwargs)
    torch.manual_seed(0)
    frontend = MODELS.build(cfg)
    frontend.init_weights()
    return frontend


def _clips(b=2, length=3, t=2, size=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, length, 3, t, size, size, generator=g)


def test_2d_backbone_pools_its_frame_features_per_clip():
    frontend = _frontend().eval()
    video, mask = _clips(), torch.tensor([[1., 1., 1.], [1., 1., 0.]])
    with torch.no_grad():
        out = frontend(video, mask)
        # by hand: every frame alone, global average, mean over the clip
        feats = [
            frontend.backbone(video[0, 1, :, i][None]).mean((2, 3))
            for i in range(2)
        ]
    assert out.shape == (2, 3, 64)
    assert torch.allclose(out[0, 1], torch.cat(feats).mean(0), atol=1e-5)
    assert out[1, 2].abs().sum() == 0  # padded clip: never encoded
    # chunked encoding gives the same features
    chunked = _frontend(clips_per_forward=2).eval()
    with torch.no_grad():
        assert torch.allclose(chunked(video, mask), out, atol=1e-5)


def test_3d_backbone_and_tuple_outputs():
    x3d = MODELS.build(
        dict(
            type='VideoBackboneFrontend',
            input_format='NCTHW',
            backbone=dict(
                type='mmaction.X3D',
                gamma_w=1,
                gamma_b=2.25,
                gamma_d=1.0,
                num_stages=1,
                spatial_strides=(2, ))))
    x3d.init_weights()
    x3d.eval()
    with torch.no_grad():
        out = x3d(_clips(t=4), torch.ones(2, 3))
    assert out.shape == (2, 3, 54)  # X3D's conv5: 24 * gamma_b channels
    # a pooled (N, C) output (VideoMAE ViT) is taken as it is
    vit = MODELS.build(
        dict(
            type='VideoBackboneFrontend',
            backbone=dict(
                type='mmaction.VisionTransformer',
                img_size=16,
                patch_size=8,
                embed_dims=32,
                depth=1,
                num_heads=2,
                num_frames=4,
                tubelet_size=2),
            probe_shape=(4, 16)))  # a ViT needs its own clip length
    # probed with the default clip (8 frames) the ViT cannot measure itself
    with pytest.raises(ValueError, match='set out_channels or probe_shape'):
        MODELS.build(
            dict(
                type='VideoBackboneFrontend',
                backbone=dict(
                    type='mmaction.VisionTransformer',
                    img_size=16,
                    patch_size=8,
                    embed_dims=32,
                    depth=1,
                    num_heads=2,
                    num_frames=4,
                    tubelet_size=2)))
    assert vit.out_channels == 32
    vit.init_weights()
    with torch.no_grad():
        assert vit.eval()(_clips(t=4), torch.ones(2, 3)).shape == (2, 3, 32)
    # several outputs (e.g. SlowFast pathways) are concatenated
    two = _frontend(
        backbone=dict(
            R18_STAGE1,
            num_stages=2,
            out_indices=(0, 1),
            strides=(1, 2),
            dilations=(1, 1))).eval()
    with torch.no_grad():
        assert two(_clips(), torch.ones(2, 3)).shape == (2, 3, 64 + 128)
    with pytest.raises(ValueError, match='input_format'):
        _frontend(input_format='NTCHW')
    with pytest.raises(ValueError, match=r'\(B, L, C, T, H, W\)'):
        _frontend()(torch.zeros(2, 3, 64), torch.ones(2, 3))


def _recognizer(frozen):
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            frontend=dict(
                type='VideoBackboneFrontend',
                backbone=R18_STAGE1,
                input_format='NCHW',
                frozen=frozen),
            inheritance=dict(
                type='PRVRBranch',
                query_dim=10,
                hidden_dim=8,
                max_ctx_l=3,
                max_desc_l=4,
                num_heads=2),
            teacher=None,
            loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1)))
    model.set_schedule(kd_weight=0.0)
    model.init_weights()
    return model


def _step(model):
    """One optimiser step on a raw batch; returns the frontend state before
    and after."""
    g = torch.Generator().manual_seed(1)
    inputs = dict(
        video=torch.randn(3, 3, 3, 2, 16, 16, generator=g),
        video_mask=torch.ones(3, 3),
        query=torch.randn(4, 4, 10, generator=g),
        query_mask=torch.ones(4, 4),
        query_to_video=torch.tensor([0, 1, 1, 2]))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    before = copy.deepcopy(model.frontend.state_dict())
    model.train()
    losses = model(inputs, mode='loss')
    total, _ = model.parse_losses(losses)
    optim.zero_grad()
    total.backward()
    optim.step()
    return before, model.frontend.state_dict()


def test_branches_take_the_frontend_channels():
    model = _recognizer(frozen=True)
    assert model.frontend.out_channels == 64  # measured on a probe clip
    assert model.inheritance.video_proj.linear.in_features == 64
    assert model.exploration.video_proj.linear.in_features == 64
    with pytest.raises(ValueError, match='video_dim=32 but the frontend'):
        MODELS.build(
            dict(
                type='DualStudentRecognizer',
                frontend=dict(
                    type='VideoBackboneFrontend',
                    backbone=R18_STAGE1,
                    input_format='NCHW'),
                inheritance=dict(
                    type='PRVRBranch',
                    video_dim=32,
                    query_dim=10,
                    hidden_dim=8),
                teacher=None))


def test_frozen_backbone_stays_frozen():
    model = _recognizer(frozen=True)
    before, after = _step(model)
    backbone = model.frontend.backbone
    assert not backbone.training and model.training  # eval mode kept
    assert all(not m.training for m in backbone.modules())
    assert all(not p.requires_grad and p.grad is None
               for p in backbone.parameters())
    for key in before:  # weights and BatchNorm statistics unchanged
        assert torch.equal(before[key], after[key]), key
    # the branches did train
    assert model.inheritance.video_proj.linear.weight.grad is not None


def test_fine_tuned_backbone_trains_with_the_student():
    model = _recognizer(frozen=False)
    before, after = _step(model)
    backbone = model.frontend.backbone
    assert backbone.training
    assert all(p.grad is not None for p in backbone.parameters())
    assert not torch.equal(before['backbone.conv1.conv.weight'],
                           after['backbone.conv1.conv.weight'])
    # BatchNorm statistics move in train mode
    assert not torch.equal(before['backbone.conv1.bn.running_mean'],
                           after['backbone.conv1.bn.running_mean'])


def test_raw_clips_without_a_frontend_are_refused():
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=dict(
                type='PRVRBranch',
                video_dim=64,
                query_dim=10,
                hidden_dim=8,
                max_ctx_l=3,
                max_desc_l=4,
                num_heads=2),
            teacher=None))
    model.set_schedule(kd_weight=0.0)
    inputs = dict(
        video=torch.zeros(1, 3, 3, 2, 16, 16),
        video_mask=torch.ones(1, 3),
        query=torch.zeros(1, 4, 10),
        query_mask=torch.ones(1, 4),
        query_to_video=torch.tensor([0]))
    with pytest.raises(ValueError, match='set model.frontend'):
        model(inputs, mode='tensor')
