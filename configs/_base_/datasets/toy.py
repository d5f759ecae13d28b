# Toy PRVR data in the MS-SL layout, generated under data_root on first use.
dataset_type = 'PRVRFeatureDataset'
data_root = 'data/toy'
collection = 'toy'
video_dim, query_dim, teacher_dim = 128, 64, 48
max_ctx_l, max_desc_l = 32, 16
generate_toy = dict(seed=0)

_features = dict(
    video_feature='FeatureData/toy_i3d',
    text_feature=f'TextData/roberta_{collection}_query_feat.hdf5',
    video_dim=video_dim,
    text_dim=query_dim,
    meta_file=f'TextData/{collection}_meta.json',
    generate_toy=generate_toy)
_teacher = dict(
    teacher_video_feature=(
        f'FeatureData/new_clip_vit_32_{collection}_vid_features.hdf5'),
    teacher_text_feature=(
        f'TextData/clip_ViT_B_32_{collection}_query_feat.hdf5'),
    teacher_dim=teacher_dim)

train_pipeline = [
    dict(type='AlignTeacherClips'),
    dict(type='UniformClipSampling', max_len=max_ctx_l),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRInputs'),
]
test_pipeline = [
    dict(type='UniformClipSampling', max_len=max_ctx_l),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'TextData/{collection}train.caption.txt',
        pipeline=train_pipeline,
        **_features,
        **_teacher))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'TextData/{collection}val.caption.txt',
        pipeline=test_pipeline,
        test_mode=True,
        **_features))
test_dataloader = dict(
    batch_size=128,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'TextData/{collection}test.caption.txt',
        pipeline=test_pipeline,
        test_mode=True,
        **_features))

val_evaluator = dict(type='PRVRMetric', fusion_weight=0.7)
test_evaluator = val_evaluator
