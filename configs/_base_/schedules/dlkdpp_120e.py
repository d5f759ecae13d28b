# DL-DKD++ recipe: bertadam_linear.py for 120 epochs (master branch,
# method/config.py) with the distillation factor and soft-target schedules
# of dlkdpp_targets.py; early stopping.
_base_ = ['./bertadam_linear.py', './dlkdpp_targets.py']

train_cfg = dict(max_epochs=120)
custom_hooks = [_base_.dlkdpp_kd_hook, _base_.early_stopping]
