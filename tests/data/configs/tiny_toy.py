# The toy DL-DKD config shrunk for tests (dims of conftest.TINY_TOY).
_base_ = ['../../../configs/toy/dlkd_toy-feats_1xb32-20e_toy.py']

_dims = dict(video_dim=32, text_dim=16, teacher_dim=8, generate_toy=None)
model = dict(
    inheritance=dict(video_dim=32, query_dim=16, hidden_dim=16),
    teacher=dict(feature_dim=8))
train_dataloader = dict(batch_size=8, dataset=_dims)
val_dataloader = dict(batch_size=8, dataset=_dims)
test_dataloader = dict(batch_size=8, dataset=_dims)
# the toy's learning-rate schedule follows: warm-up then decay to 0 in 2
# epochs
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1))
