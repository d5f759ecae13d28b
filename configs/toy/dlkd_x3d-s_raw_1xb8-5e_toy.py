# DL-DKD trained end to end from raw toy videos with a 3D mmaction2 backbone.
# Long name: dlkd_x3d-s-clip-raw_clip-online-teacher_adamw-5e_1xb8_toy.
# Student front end: mmaction.X3D-S (gamma_w=1, gamma_b=2.25, gamma_d=2.2;
# random init, fine-tuned with the student) on every clip of 4 frames
# (input_format='NCTHW'), pooled over time and space -> 432-d clip features
# -> the two branches. With a Kinetics-pretrained X3D add
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.') to the
# backbone and set frozen=True to keep it fixed (a frozen *random* X3D gives
# near-random rankings here). 8 clips per video, 32x32 pixels.
# Teacher: an online CLIP (open_clip) model on the middle frame of every clip
# and on the caption strings. Here a tiny randomly initialised CLIP (no
# download); for real use (docs/raw_video.md):
#   clip_model = dict(model_name='ViT-B-32-quickgelu', pretrained='openai')
#   (or pretrained='/path/to/open_clip_pytorch_model.bin'), teacher_dim=512.
# The toy videos are generated under data/toy_raw on first use.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/adamw_linear_120e.py',
    '../_base_/datasets/toy_raw.py'
]

max_epochs = 5
num_clips, clip_len, img_size = 8, 4, 32
max_desc_l = 16
# a randomly initialised 32-pixel CLIP (open_clip config registered by
# prvr_mm: prvr_mm/models/teachers/open_clip_configs/prvr-tiny-clip.json)
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(
    frontend=dict(
        type='VideoBackboneFrontend',
        input_format='NCTHW',
        frozen=False,
        backbone=dict(
            type='mmaction.X3D', gamma_w=1, gamma_b=2.25, gamma_d=2.2)),
    inheritance=dict(
        video_dim=432,  # X3D output channels
        query_dim=32,
        hidden_dim=64,
        max_ctx_l=num_clips,
        max_desc_l=max_desc_l),
    teacher=dict(feature_dim=teacher_dim, clip_model=clip_model),
    loss_triplet=dict(margin=0.2, hard_pool_size=20),
    data_preprocessor=dict(
        type='PRVRDataPreprocessor',
        mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375]))

train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]
custom_hooks = [dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95)]
default_hooks = dict(logger=dict(interval=2))
randomness = dict(seed=0)
