# DL-DKD (ICCV 2023) recipe: bertadam_linear.py for 100 epochs (the
# n_epoch default of method/config.py on the authors' iccv branch, commits
# 8e2aa19 and 544b2db; 120 is the master branch's DL-DKD++ default) with
# the distillation factor 0.95 ** epoch (decay_way 1) and early stopping.
_base_ = ['./bertadam_linear.py']

train_cfg = dict(max_epochs=100)
custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    _base_.early_stopping,
]
