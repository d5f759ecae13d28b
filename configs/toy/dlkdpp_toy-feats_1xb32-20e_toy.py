# DL-DKD++ on the generated toy collection: dlkd_toy-feats_1xb32-20e_toy.py
# with dynamic soft targets (label_style='soft') and the soft-target
# schedules of the DL-DKD++ paper configs (schedules/dlkdpp_adamw_120e.py:
# alpha and beta start at 0.8, sigmoid decay with k = 800, beta floored at
# 0.5). Part of the toy ablation, configs/toy/README.md.
_base_ = ['./dlkd_toy-feats_1xb32-20e_toy.py']

model = dict(label_style='soft')
custom_hooks = [
    dict(
        type='DynamicKDHook',
        kd_decay='exp',
        exp_k=0.95,
        alpha_decay='sigmoid',
        alpha_init=0.8,
        alpha_floor=0.0,
        beta_decay='sigmoid',
        beta_init=0.8,
        beta_floor=0.5,
        target_sigmoid_k=800),
    _base_.early_stopping,
]
