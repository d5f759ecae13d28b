# DL-DKD (hard targets, exponential decay of the distillation factor) on the
# generated toy collection: written under data/toy on first use, trains in a
# few minutes on 2 CPU cores. The toy ablation (this config and the four
# others of configs/toy) is in configs/toy/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/adamw_linear_20e.py', '../_base_/datasets/toy.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims, hidden_dim=64),
    teacher=dict(feature_dim=_base_.teacher_dim),
    loss_triplet=dict(margin=0.2))
custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    _base_.early_stopping,
]
default_hooks = dict(logger=dict(interval=5))
randomness = dict(seed=0)
