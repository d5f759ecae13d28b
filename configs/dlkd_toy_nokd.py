# Ablation of configs/dlkd_toy.py: the same student with the KD weight fixed
# to 0 (no distillation; the teacher is never used).
_base_ = ['./dlkd_toy.py']

model = dict(kd_weight=0.0)
custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='constant', kd_init=0.0),
    dict(
        type='EarlyStoppingHook',
        monitor='prvr/SumR',
        rule='greater',
        patience=10),
]
