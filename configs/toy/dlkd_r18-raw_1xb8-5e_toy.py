# DL-DKD trained end to end from the raw toy videos with a 2D mmaction2
# backbone: mmaction.ResNet depth 18 (random init, fine-tuned with the
# student) on every frame of a clip, frame features averaged per clip ->
# 512-d clip features (the branches' video_dim, measured from the backbone)
# -> the two branches; 8 clips of 2 frames per video, 32x32 pixels. The
# teacher is an online CLIP on the middle frame of every clip and on the
# caption strings. The videos are generated under data/toy_raw on first
# use; see configs/toy/README.md and docs/raw_video.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/adamw_linear_20e.py', '../_base_/datasets/toy_raw.py'
]

model = dict(
    frontend=dict(
        type='VideoBackboneFrontend',
        input_format='NCHW',
        frozen=False,
        backbone=dict(type='mmaction.ResNet', depth=18, pretrained=None)),
    inheritance=dict(**_base_.branch_dims, hidden_dim=64),
    teacher=dict(feature_dim=_base_.teacher_dim, clip_model=_base_.clip_model),
    loss_triplet=dict(margin=0.2),
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))

max_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
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
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(logger=dict(interval=2))
randomness = dict(seed=0)
