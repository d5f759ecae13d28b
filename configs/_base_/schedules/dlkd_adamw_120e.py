# DL-DKD training recipe: adamw_linear_120e.py (AdamW lr 2.5e-4, weight
# decay 0.01 except biases and LayerNorms, 1% linear warm-up then linear
# decay, 120 epochs, validation every epoch) with
# * the distillation weight 0.95 ** epoch (the authors' exponential decay),
# * early stopping after 10 validations without a higher prvr/SumR (the
#   authors count a strictly higher SumR as an improvement, hence the tiny
#   min_delta instead of MMEngine's default 0.1).
_base_ = ['./adamw_linear_120e.py']

# BertAdam's epsilon (torch's AdamW default is 1e-8).
optim_wrapper = dict(optimizer=dict(eps=1e-6))

custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    dict(
        type='EarlyStoppingHook',
        monitor='prvr/SumR',
        rule='greater',
        min_delta=1e-6,
        patience=10),
]
