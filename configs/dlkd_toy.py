# DL-DKD (hard targets, exponential KD decay) on the embedded toy dataset.
# Long name: dlkd_dual-student_clip-teacher_adamw-20e_toy.
# The data is generated under data/toy on first use; trains in a few minutes
# on 2 CPU cores.
_base_ = [
    '_base_/default_runtime.py', '_base_/models/dlkd.py',
    '_base_/schedules/adamw_linear_120e.py', '_base_/datasets/toy.py'
]

max_epochs = 20
hidden_dim = 64
model = dict(
    inheritance=dict(
        video_dim=128,
        query_dim=64,
        hidden_dim=hidden_dim,
        max_ctx_l=32,
        max_desc_l=16),
    teacher=dict(feature_dim=48),
    loss_triplet=dict(margin=0.2, hard_pool_size=20))

train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
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
custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    dict(
        type='EarlyStoppingHook',
        monitor='prvr/SumR',
        rule='greater',
        patience=10),
]
default_hooks = dict(logger=dict(interval=5))
randomness = dict(seed=0)
