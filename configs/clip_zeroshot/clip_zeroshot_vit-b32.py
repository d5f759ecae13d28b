# Zero-shot PRVR with CLIP ViT-B/32 alone: no training, no checkpoint.
# A query's score for a video is the max over the video's CLIP frame
# embeddings of the cosine with CLIP's sentence embedding; the moment is the
# best run of frames (docs/search.md, "Search on day one"). It reads a
# CLIP-only collection (the frame file of tools/data/extract_clip_features.py
# as the video input), so search works before any model is trained:
#   python demo/prvr_search.py \
#       configs/clip_zeroshot/clip_zeroshot_vit-b32.py \
#       --index data/mine/zeroshot.index.h5 \
#       --build-index \
#       data/mine/FeatureData/new_clip_vit_32_mine_vid_features.hdf5
# `tools/test.py` on it scores a collection's test split the same way.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/datasets/charades_clip.py'
]

data_root = 'data/mine'
collection = 'mine'
# keep all of CLIP's tokens: the last one (end of text) is the sentence
# embedding the retriever reads
max_ctx_l, max_desc_l = 128, 77
test_pipeline = [
    dict(type='UniformClipSampling', max_len=max_ctx_l),
    dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
    dict(type='TruncateTokens', max_len=max_desc_l),
    dict(type='PackPRVRInputs'),
]
_zeroshot = dict(
    data_root=data_root,
    collection=collection,
    with_teacher=False,
    pipeline=test_pipeline)
train_dataloader = None
val_dataloader = dict(dataset=_zeroshot)
test_dataloader = dict(dataset=_zeroshot)
train_cfg = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

model = dict(type='CLIPZeroShotRetriever', embed_dim=512)
# one branch, `clip`: its score is the ranking score
val_evaluator = dict(type='PRVRMetric', branches=('clip', ), fusion_weight=1.0)
test_evaluator = val_evaluator
