# The tiny toy for the resume / preemption tests: DL-DKD++ soft targets with
# per-epoch kd / alpha / beta schedules, dropout and random hard negatives
# (all of which must pick up exactly where an interrupted run stopped),
# 6 iterations per epoch, 4 epochs.
_base_ = ['./tiny_toy.py']

model = dict(label_style='soft', loss_triplet=dict(hard_pool_size=3))
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_epochs=4)
custom_hooks = [
    dict(
        type='DynamicKDHook',
        kd_decay='exp',
        exp_k=0.5,
        alpha_decay='linear',
        alpha_init=0.8,
        beta_decay='linear',
        beta_init=0.9),
    _base_.early_stopping,
]
