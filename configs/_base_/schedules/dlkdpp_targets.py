# DL-DKD++'s DynamicKDHook (master branch, method/config.py defaults): the
# distillation factor 0.95 ** epoch and the soft-target schedules: alpha
# (hard-row fraction) and beta (one-hot weight) start at 0.8 and follow
# init * k / (k + exp(100 * epoch / k)) with k = 800, alpha floored at 0 and
# beta at 0.5. One variable, used by every DL-DKD++ config's custom_hooks.
dlkdpp_kd_hook = dict(
    type='DynamicKDHook',
    kd_decay='exp',
    exp_k=0.95,
    alpha_decay='sigmoid',
    alpha_init=0.8,
    alpha_floor=0.0,
    beta_decay='sigmoid',
    beta_init=0.8,
    beta_floor=0.5,
    target_sigmoid_k=800)
