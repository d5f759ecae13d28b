# DL-DKD++ training recipe: adamw_linear_120e.py with the optimiser epsilon
# and early stopping of dlkd_adamw_120e.py, plus the dynamic soft-target
# schedules of the authors' master branch defaults: alpha (hard-row
# fraction) and beta (one-hot weight) both start at 0.8 and follow the
# sigmoid decay init * k / (k + exp(100 * epoch / k)) with k = 800, alpha
# floored at 0 and beta at 0.5; the distillation weight decays as
# 0.95 ** epoch.
_base_ = ['./adamw_linear_120e.py']

optim_wrapper = dict(optimizer=dict(eps=1e-6))

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
    dict(
        type='EarlyStoppingHook',
        monitor='prvr/SumR',
        rule='greater',
        min_delta=1e-6,
        patience=10),
]
