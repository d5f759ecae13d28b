# ActivityNet Captions, MS-SL feature pack (docs/datasets.md): RoBERTa
# query tokens 1024-d, FeatureData/i3d frame features 1024-d, CLIP
# ViT-B/32 teacher files for training. Move it with
# `--cfg-options data_root=/path/to/activitynet`; check it with
# `python tools/data/check_dataset.py ROOT activitynet`.
_base_ = ['./ms_sl_features.py']

data_root = 'data/activitynet'
collection = 'activitynet'
video_dim, query_dim = 1024, 1024
branch_dims = dict(
    _base_.branch_dims, video_dim=video_dim, query_dim=query_dim)

_dataset = dict(
    data_root=data_root,
    collection=collection,
    video_dim=video_dim,
    text_dim=query_dim)
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
