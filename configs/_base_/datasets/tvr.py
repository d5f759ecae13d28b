# TVR (TV show Retrieval), features of the MS-SL packs (docs/datasets.md).
# Files under data_root (= ROOT/tvr):
#   TextData/tvr{train,val,test}.caption.txt  "<cap_id> <sentence>"
#   TextData/roberta_tvr_query_feat.hdf5  cap_id -> (L, 768)
#   FeatureData/i3d_resnet/  BigFile of 3072-d frame features
#     (an h5 FeatureData/i3d_resnet.hdf5, video id -> (T, 3072), works too)
#   training only, CLIP ViT-B/32 teacher:
#   FeatureData/new_clip_vit_32_tvr_vid_features.hdf5  video id -> (T, 512)
#   TextData/clip_ViT_B_32_tvr_query_feat.hdf5  cap_id -> (1, 512)
# Move it with `--cfg-options data_root=/path/to/tvr` (every loader follows);
# check it with `python tools/data/check_dataset.py ROOT tvr`.
dataset_type = 'PRVRFeatureDataset'
data_root = 'data/tvr'
collection = 'tvr'
visual_feature = 'i3d_resnet'
video_dim, query_dim, teacher_dim = 3072, 768, 512
max_ctx_l, max_desc_l = 128, 30

_features = dict(
    video_feature=f'FeatureData/{visual_feature}',
    text_feature=f'TextData/roberta_{collection}_query_feat.hdf5',
    video_dim=video_dim,
    text_dim=query_dim)
_teacher = dict(
    teacher_video_feature=(
        f'FeatureData/new_clip_vit_32_{collection}_vid_features.hdf5'),
    teacher_text_feature=(
        f'TextData/clip_ViT_B_32_{collection}_query_feat.hdf5'),
    teacher_dim=teacher_dim)

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
        type=dataset_type,
        data_root=data_root,
        ann_file=f'TextData/{collection}train.caption.txt',
        pipeline=train_pipeline,
        **_features,
        **_teacher))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
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
    num_workers=4,
    persistent_workers=True,
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
