# DL-DKD trained end to end from the raw toy videos with a 3D mmaction2
# backbone: mmaction.X3D-S (gamma_w=1, gamma_b=2.25, gamma_d=2.2; random
# init, fine-tuned with the student) on every clip of 4 frames, pooled over
# time and space -> 432-d clip features (the branches' video_dim, measured
# from the backbone) -> the two branches; 8 clips per video, 32x32 pixels.
# With a Kinetics-pretrained X3D add init_cfg=dict(type='Pretrained',
# checkpoint=..., prefix='backbone.') to the backbone and set frozen=True to
# keep it fixed (a frozen *random* X3D ranks at chance here). The teacher is
# an online CLIP on the middle frame of every clip and on the caption
# strings. The videos are generated under data/toy_raw on first use; see
# configs/toy/README.md and docs/raw_video.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/adamw_linear_5e.py', '../_base_/datasets/toy_raw.py'
]

# 4 frames per clip (the base samples 2)
train_pipeline, test_pipeline = ([
    dict(step, clip_len=4) if step.type == 'SampleFrames' else step
    for step in pipeline
] for pipeline in (_base_.train_pipeline, _base_.test_pipeline))
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
    inheritance=dict(**_base_.branch_dims, hidden_dim=64),
    teacher=dict(feature_dim=_base_.teacher_dim, clip_model=_base_.clip_model),
    loss_triplet=dict(margin=0.2),
    data_preprocessor=dict(
        mean=[114.75, 114.75, 114.75], std=[57.38, 57.38, 57.38]))

default_hooks = dict(logger=dict(interval=2))
randomness = dict(seed=0)
