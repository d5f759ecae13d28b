# Charades-STA, MS-SL feature pack (docs/datasets.md): RoBERTa
# query tokens 1024-d, FeatureData/i3d_rgb_lgi frame features 1024-d, CLIP
# ViT-B/32 teacher files for training. Move it with
# `--cfg-options data_root=/path/to/charades`; check it with
# `python tools/data/check_dataset.py ROOT charades`.
_base_ = ['./ms_sl_features.py']

data_root = 'data/charades'
collection = 'charades'
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
