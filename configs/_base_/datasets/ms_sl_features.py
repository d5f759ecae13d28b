# What every collection in the MS-SL layout shares: pipelines, loaders and
# metric. A collection file (tvr.py, activitynet.py, charades.py, toy.py)
# inherits it and sets data_root, the collection name and the dimensions
# (the file names come from prvr_mm.datasets.layout).
dataset_type = 'PRVRFeatureDataset'
teacher_dim = 512  # CLIP ViT-B/32
max_ctx_l, max_desc_l = 128, 30  # clips per video, tokens per query
# What the student branches read from the data; a collection file adds
# video_dim and query_dim, and the configs pass it on to the model:
# model = dict(inheritance=dict(**_base_.branch_dims, ...)).
branch_dims = dict(max_ctx_l=max_ctx_l, max_desc_l=max_desc_l)

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
# num_workers='auto': sized to the machine by the tools
# (prvr_mm.utils.resolve_dataloaders); a number given here or with
# --cfg-options wins. prvr_collate: one tensor per input key (a worker hands
# a batch over in a few shared-memory tensors instead of one per sample).
train_dataloader = dict(
    batch_size=128,
    num_workers='auto',
    persistent_workers=True,
    collate_fn=dict(type='prvr_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        split='train',
        with_teacher=True,
        teacher_dim=teacher_dim,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers='auto',
    persistent_workers=True,
    collate_fn=dict(type='prvr_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, split='val', pipeline=test_pipeline,
        test_mode=True))
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))

# The evaluator owns the fusion weight w of w * inher + (1 - w) * explore.
val_evaluator = dict(type='PRVRMetric', fusion_weight=0.7)
test_evaluator = val_evaluator
