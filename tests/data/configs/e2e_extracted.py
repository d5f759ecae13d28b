# DL-DKD on a collection built from raw videos by the extraction tools of
# tools/data (tests/test_tools/test_extraction.py): student clip features
# from a tiny random X3D (32-d BigFile FeatureData/x3d), query tokens from a
# tiny random RoBERTa (32-d), CLIP teacher files from a tiny random open_clip
# model (32-d). Point it at the data with --cfg-options data_root=ROOT/toyvid.
_base_ = [
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/models/dlkd.py',
    '../../../configs/_base_/schedules/adamw_linear_20e.py',
    '../../../configs/_base_/datasets/ms_sl_features.py'
]

data_root = 'data/toyvid'
collection = 'toyvid'
video_dim, query_dim, teacher_dim = 32, 32, 32

_dataset = dict(
    data_root=data_root,
    collection=collection,
    visual_feature='x3d',
    video_dim=video_dim,
    text_dim=query_dim,
    with_meta=True)
_loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **_loader, dataset=dict(_dataset, teacher_dim=teacher_dim))
val_dataloader = dict(**_loader, dataset=_dataset)
test_dataloader = dict(**_loader, dataset=_dataset)

model = dict(
    inheritance=dict(
        **_base_.branch_dims,
        video_dim=video_dim,
        query_dim=query_dim,
        hidden_dim=16,
        num_heads=2),
    teacher=dict(feature_dim=teacher_dim),
    loss_triplet=dict(hard_pool_size=4))
train_cfg = dict(max_epochs=2)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
]
custom_hooks = [dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95)]
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
