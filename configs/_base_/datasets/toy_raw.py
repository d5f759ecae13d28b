# Toy raw videos (64x64 mp4, 8 fps, 4-8 s, coloured shapes moving across a
# textured background; prvr_mm/datasets/toy_videos.py) with MS-SL caption
# files, generated under data_root on first use, plus stand-in query token
# features (one fixed random vector per word; prvr_mm/datasets/toy_raw.py).
# The pipelines (they depend on the backbone and on the teacher) are set by
# each config: see configs/toy/dlkd_*_raw_*_toy.py and docs/raw_video.md.
dataset_type = 'PRVRRawVideoDataset'
data_root = 'data/toy_raw'
collection = 'toyvid'
query_dim = 32
max_desc_l = 16
generate_toy = dict(text_dim=query_dim, seed=0)

_videos = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(video='videos'),
    text_feature=f'TextData/hashword_{collection}_query_feat.hdf5',
    text_dim=query_dim,
    meta_file=f'TextData/{collection}_meta.json',
    generate_toy=generate_toy)

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file=f'TextData/{collection}train.caption.txt',
                 **_videos))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file=f'TextData/{collection}val.caption.txt',
        test_mode=True,
        **_videos))
test_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file=f'TextData/{collection}test.caption.txt',
        test_mode=True,
        **_videos))

val_evaluator = dict(type='PRVRMetric', fusion_weight=0.7)
test_evaluator = val_evaluator
