"""Small raw batches and models for the model tests."""
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


def build_recognizer(**kwargs):
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
    """What ``pseudo_collate`` gives the data preprocessor: per video
    ``counts[i]`` queries and ``lengths[i]`` clips (12-d video, 10-d
    tokens, 4-d teacher)."""
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
