# DL-DKD++ on the generated toy collection: dlkd_toy-feats_1xb32-20e_toy.py
# with dynamic soft targets (label_style='soft') and the soft-target
# schedules of the DL-DKD++ paper configs (schedules/dlkdpp_targets.py:
# alpha and beta start at 0.8, sigmoid decay with k = 800, beta floored at
# 0.5). Part of the toy ablation, configs/toy/README.md.
_base_ = [
    './dlkd_toy-feats_1xb32-20e_toy.py',
    '../_base_/schedules/dlkdpp_targets.py'
]

model = dict(label_style='soft')
custom_hooks = [_base_.dlkdpp_kd_hook, _base_.early_stopping]
