# DL-DKD recipe: adamw_linear_120e.py with the distillation factor
# 0.95 ** epoch (the authors' exponential decay) and early stopping.
_base_ = ['./adamw_linear_120e.py']

custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    _base_.early_stopping,
]
