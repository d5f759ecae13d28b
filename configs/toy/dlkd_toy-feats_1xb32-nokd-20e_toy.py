# Ablation of dlkd_toy-feats_1xb32-20e_toy.py, "both branches without KD":
# the distillation factor is 0 in every epoch, so the two branches learn
# from the PRVR data alone (the teacher is never used).
_base_ = ['./dlkd_toy-feats_1xb32-20e_toy.py']

custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='constant', kd_init=0.0),
    _base_.early_stopping,
]
