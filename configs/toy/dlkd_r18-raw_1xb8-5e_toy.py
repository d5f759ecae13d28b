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
    '../_base_/schedules/adamw_linear_5e.py', '../_base_/datasets/toy_raw.py'
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

default_hooks = dict(logger=dict(interval=2))
randomness = dict(seed=0)
