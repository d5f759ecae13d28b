# TVR (TV show Retrieval), MS-SL feature pack (docs/datasets.md): RoBERTa
# query tokens 768-d, FeatureData/i3d_resnet frame features 3072-d, CLIP
# ViT-B/32 teacher files for training. Move it with
# `--cfg-options data_root=/path/to/tvr`; check it with
# `python tools/data/check_dataset.py ROOT tvr`.
_base_ = ['./ms_sl_features.py']

data_root = 'data/tvr'
collection = 'tvr'
video_dim, query_dim = 3072, 768
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
