# The generated toy collection (prvr_mm.datasets.toy) in the MS-SL layout,
# written under data_root on first use; small dimensions, the MS-SL
# pipelines with shorter clip and token limits, no loader workers.
_base_ = ['./ms_sl_features.py']

data_root = 'data/toy'
collection = 'toy'
video_dim, query_dim, teacher_dim = 128, 64, 48
max_ctx_l, max_desc_l = 32, 16
branch_dims = dict(
    video_dim=video_dim,
    query_dim=query_dim,
    max_ctx_l=max_ctx_l,
    max_desc_l=max_desc_l)

# The MS-SL pipelines with the toy's limits (MMEngine replaces a list
# wholesale, so the two sampling steps are set by type here).
_max_len = dict(UniformClipSampling=max_ctx_l, TruncateTokens=max_desc_l)
train_pipeline, test_pipeline = ([
    dict(step, max_len=_max_len[step.type]) if step.type in _max_len else step
    for step in pipeline
] for pipeline in (_base_.train_pipeline, _base_.test_pipeline))

_dataset = dict(
    data_root=data_root,
    collection=collection,
    visual_feature='toy_i3d',
    video_dim=video_dim,
    text_dim=query_dim,
    with_meta=True,
    generate_toy=dict(seed=0))
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=32,
    **_loader,
    dataset=dict(_dataset, teacher_dim=teacher_dim, pipeline=train_pipeline))
# evaluation reads the CLIP teacher files too: PRVRMetric reports CLIP's
# zero-shot ranking beside the students' (prvr/clip_zeroshot/...)
_eval = dict(_dataset, with_teacher='if_present', teacher_dim=teacher_dim)
val_dataloader = dict(**_loader, dataset=dict(_eval, pipeline=test_pipeline))
test_dataloader = dict(**_loader, dataset=dict(_eval, pipeline=test_pipeline))

# the encoder of the toy's query features (one vector per word), for
# free-text search (PRVRInferencer, demo/prvr_search.py)
text_encoder = dict(type='ToyTextEncoder', data_root=data_root)
