# The raw-video toy schedule: adamw_linear.py (AdamW, weight decay 0.01
# except biases and norms, validation every epoch) for 5 epochs at lr 1e-3,
# warming up over the first epoch (20% of the iterations) then decaying
# linearly to 0 at the end of the run, the distillation factor 0.95 **
# epoch; no early stopping in so short a run.
_base_ = ['./adamw_linear.py']

train_cfg = dict(max_epochs=5)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = dict(warmup_ratio=0.2)
custom_hooks = [dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95)]
auto_scale_lr = dict(base_batch_size=8)  # configs/_base_/datasets/toy_raw.py
