# What every MS-SL feature pack shares (docs/datasets.md): the pipelines,
# loaders and metric. A collection file (tvr.py, activitynet.py,
# charades.py) inherits this and names its files and dimensions.
dataset_type = 'PRVRFeatureDataset'
teacher_dim = 512  # CLIP ViT-B/32
max_ctx_l, max_desc_l = 128, 30

# Student clips are first resampled to the teacher's frame count, then both
# are averaged to at most max_ctx_l clips (the authors' data provider).
train_pipeline = [
    dict(type='AlignTeacherClips'),
    dict(type='UniformClipSampling', max_len=max_ctx_l),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRInputs'),
]
# Evaluation needs no teacher file.
test_pipeline = [
    dict(type='UniformClipSampling', max_len=max_ctx_l),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRInputs'),
]

# 128 videos (with all their queries) per batch; h5 files are opened lazily
# in each worker and the BigFile is read through np.memmap, so workers are
# safe. `cache=True` in a dataset keeps what it read in RAM.
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, pipeline=train_pipeline, teacher_dim=teacher_dim))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='PRVRMetric', fusion_weight=0.7)
test_evaluator = val_evaluator
