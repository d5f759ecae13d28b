# AdamW, 1% linear warm-up then linear decay to 0 (per iteration), 120 epochs.
# The authors use BertAdam (Adam without bias correction, weight decay added
# to the update, per-parameter gradient clipping to norm 1); we use
# torch.optim.AdamW with the same lr / weight decay / schedule shape.
max_epochs = 120
warmup_ratio = 0.01

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2.5e-4, weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs * warmup_ratio,
        convert_to_iter_based=True),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=max_epochs * warmup_ratio,
        end=max_epochs,
        convert_to_iter_based=True),
]

custom_hooks = [
    dict(type='DynamicKDHook', kd_decay='exp', exp_k=0.95),
    dict(
        type='EarlyStoppingHook',
        monitor='prvr/SumR',
        rule='greater',
        patience=10),
]

# Batch of 128 videos (all their queries) per GPU, as the authors.
auto_scale_lr = dict(enable=False, base_batch_size=128)
