"""Opt-in torch.compile of the branches gives the eager losses/gradients."""
import torch
from mmaction.registry import MODELS

BRANCH = dict(
    type='PRVRBranch',
    video_dim=12,
    query_dim=10,
    hidden_dim=8,
    max_ctx_l=6,
    max_desc_l=5,
    num_heads=2)


def _inputs():
    g = torch.Generator().manual_seed(0)
    video_mask = (torch.arange(6)[None] < torch.tensor([6, 3, 4])[:, None])
    query_mask = (torch.arange(5)[None] < torch.tensor([5, 2, 3, 4])[:, None])
    return dict(
        video=torch.randn(3, 6, 12, generator=g) * video_mask[..., None],
        video_mask=video_mask.float(),
        query=torch.randn(4, 5, 10, generator=g) * query_mask[..., None],
        query_mask=query_mask.float(),
        query_to_video=torch.tensor([0, 1, 2, 2]),
        teacher_video=torch.randn(3, 6, 4, generator=g),
        teacher_query=torch.randn(4, 4, generator=g))


def test_compiled_branches_match_eager():
    torch.manual_seed(0)
    cfg = dict(
        type='DualStudentRecognizer',
        inheritance=BRANCH,
        teacher=dict(type='CLIPTeacherHead', feature_dim=4),
        loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1),
        label_style='soft',
        double_branch=False)
    eager = MODELS.build(cfg).eval()
    # aot_eager: Dynamo capture + AOTAutograd forward/backward graphs, no
    # C++ code generation (inductor works too, it only takes longer)
    compiled = MODELS.build(dict(cfg, compile_branches=dict(
        backend='eager'))).eval()
    compiled.load_state_dict(eager.state_dict())
    for model in (eager, compiled):
        model.set_schedule(kd_weight=0.9, alpha=0.5, beta=0.6)
    inputs = _inputs()
    results = []
    for model in (eager, compiled):
        losses = model.loss(inputs)
        total, _ = model.parse_losses(losses)
        grads = torch.autograd.grad(total, list(model.parameters()))
        results.append((total, grads))
    assert compiled._compiled  # the encoders went through torch.compile
    torch.testing.assert_close(results[1][0], results[0][0])
    for a, b in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
