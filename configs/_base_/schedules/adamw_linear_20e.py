# The toy schedule: adamw_linear.py (AdamW, weight decay 0.01 except biases
# and norms, validation every epoch, early stopping) for 20 epochs at lr
# 1e-3, warming up over the first 5% of the iterations (one epoch of 20)
# then decaying linearly to 0 at the end of the run; the curve follows
# train_cfg.max_epochs when it is overridden.
_base_ = ['./adamw_linear.py']

train_cfg = dict(max_epochs=20)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = dict(warmup_ratio=0.05)
auto_scale_lr = dict(base_batch_size=32)  # configs/_base_/datasets/toy.py
