# bertadam_linear.py with torch's AdamW (eps 1e-6) instead of BertAdam: the
# same lr, weight decay, parameter groups, warm-up + linear decay to 0 at
# the end of the run (following train_cfg.max_epochs) and early stopping.
# With bias correction and without per-parameter clipping, the first
# thousand or so updates are smaller than BertAdam's (x1/3.2 at the first,
# x1/6.6 at the 10th, x1/1.6 at the 500th): not the authors' training.
_base_ = ['./bertadam_linear.py']

optim_wrapper = dict(optimizer=_base_.adamw_optimizer)
