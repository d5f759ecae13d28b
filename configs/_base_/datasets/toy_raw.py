# Toy raw videos (prvr_mm/datasets/toy_videos.py: 64x64 H.264 mp4 at 8 fps,
# 4-8 s, coloured shapes moving over a textured background; 48 train / 16
# val / 16 test videos) with MS-SL caption files, written under data_root on
# first use with stand-in query token features (one fixed random vector per
# word, prvr_mm/datasets/toy_raw.py). Clips are decoded by mmaction2's
# pipeline transforms; the training pipeline also gives the online CLIP
# teacher one frame per clip. A config sets the backbone's frames per clip:
#   train_pipeline, test_pipeline = (
#       [dict(s, clip_len=4) if s.type == 'SampleFrames' else s for s in p]
#       for p in (_base_.train_pipeline, _base_.test_pipeline))
# See docs/raw_video.md.
dataset_type = 'PRVRRawVideoDataset'
data_root = 'data/toy_raw'
collection = 'toyvid'
query_dim = 32
num_clips, clip_len, img_size = 8, 2, 32
max_desc_l = 16
branch_dims = dict(
    query_dim=query_dim, max_ctx_l=num_clips, max_desc_l=max_desc_l)
# The online teacher: a randomly initialised 32-pixel CLIP (an open_clip
# config of prvr_mm, no download). Real use: dict(model_name=
# 'ViT-B-32-quickgelu', pretrained='openai' or a local weights file) and
# teacher_dim = 512.
clip_model = dict(model_name='prvr-tiny-clip')
teacher_dim = 32

train_pipeline = [
    dict(type='CheckedPyAVInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=1,
        num_clips=num_clips),
    dict(type='CheckedPyAVDecode'),
    dict(type='CLIPTeacherFrames', clip_model=clip_model),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='L2Normalize', keys=('query_feats', )),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRRawInputs'),
]
test_pipeline = [
    dict(type='CheckedPyAVInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=1,
        num_clips=num_clips,
        test_mode=True),
    dict(type='CheckedPyAVDecode'),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='L2Normalize', keys=('query_feats', )),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRRawInputs'),
]

_videos = dict(
    type=dataset_type,
    data_root=data_root,
    collection=collection,
    with_meta=True,
    data_prefix=dict(video='videos'),
    text_feature=f'TextData/hashword_{collection}_query_feat.hdf5',
    text_dim=query_dim,
    generate_toy=dict(text_dim=query_dim, seed=0))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    collate_fn=dict(type='prvr_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(split='train', pipeline=train_pipeline, **_videos))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    collate_fn=dict(type='prvr_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        split='val', pipeline=test_pipeline, test_mode=True, **_videos))
test_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    collate_fn=dict(type='prvr_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        split='test', pipeline=test_pipeline, test_mode=True, **_videos))

val_evaluator = dict(type='PRVRMetric', fusion_weight=0.7)
test_evaluator = val_evaluator
