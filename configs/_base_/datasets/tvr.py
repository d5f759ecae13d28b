# TVR (TV show Retrieval), features of the MS-SL packs (docs/datasets.md).
# Files under data_root (= ROOT/tvr):
#   TextData/tvr{train,val,test}.caption.txt  "<cap_id> <sentence>"
#   TextData/roberta_tvr_query_feat.hdf5  cap_id -> (L, 768)
#   FeatureData/i3d_resnet/  BigFile of 3072-d frame features
#     (an h5 FeatureData/i3d_resnet.hdf5, video id -> (T, 3072), works too)
#   training only, CLIP ViT-B/32 teacher:
#   FeatureData/new_clip_vit_32_tvr_vid_features.hdf5  video id -> (T, 512)
#   TextData/clip_ViT_B_32_tvr_query_feat.hdf5  cap_id -> (1, 512)
# Move it with `--cfg-options data_root=/path/to/tvr` (every loader follows);
# check it with `python tools/data/check_dataset.py ROOT tvr`.
_base_ = ['./ms_sl_features.py']

data_root = 'data/tvr'
collection = 'tvr'
visual_feature = 'i3d_resnet'
video_dim, query_dim = 3072, 768

_features = dict(
    data_root=data_root,
    video_feature=f'FeatureData/{visual_feature}',
    text_feature=f'TextData/roberta_{collection}_query_feat.hdf5',
    video_dim=video_dim,
    text_dim=query_dim)
train_dataloader = dict(
    dataset=dict(
        ann_file=f'TextData/{collection}train.caption.txt',
        teacher_video_feature=(
            f'FeatureData/new_clip_vit_32_{collection}_vid_features.hdf5'),
        teacher_text_feature=(
            f'TextData/clip_ViT_B_32_{collection}_query_feat.hdf5'),
        **_features))
val_dataloader = dict(
    dataset=dict(
        ann_file=f'TextData/{collection}val.caption.txt', **_features))
test_dataloader = dict(
    dataset=dict(
        ann_file=f'TextData/{collection}test.caption.txt', **_features))
