# The toy schedule: 20 epochs, validation every epoch, AdamW lr 1e-3 with a
# one-epoch linear warm-up then linear decay to 0 (per iteration), weight
# decay 0.01 except biases and norms, early stopping after 10 validations
# without a prvr/SumR higher by 0.1 (MMEngine's default min_delta).
max_epochs = 20

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]

early_stopping = dict(
    type='EarlyStoppingHook', monitor='prvr/SumR', rule='greater', patience=10)

auto_scale_lr = dict(enable=False, base_batch_size=32)
