# TVR with CLIP ViT-B/32 inputs for the student: the video input is the
# CLIP frame file the teacher reads (512-d), the query input per-token CLIP
# text features (512-d) of the same open_clip model, so one downloadable
# model serves feature extraction, teacher and free-text search
# (docs/search.md). The token file is written by
# `python tools/data/extract_text_features.py ROOT tvr --encoder open_clip`
# (prvr_mm.datasets.layout names it).
_base_ = ['./tvr.py']

video_dim, query_dim = 512, 512
branch_dims = dict(
    _base_.branch_dims, video_dim=video_dim, query_dim=query_dim)
_clip = dict(
    visual_feature='new_clip_vit_32_tvr_vid_features.hdf5',
    text_feature='TextData/clip_ViT_B_32_tvr_token_feat.hdf5',
    video_dim=video_dim,
    text_dim=query_dim)
train_dataloader = dict(dataset=_clip)
val_dataloader = dict(dataset=_clip)
test_dataloader = dict(dataset=_clip)

# the encoder of the query features, for free-text search (PRVRInferencer)
text_encoder = dict(
    type='OpenCLIPTextEncoder', model_name='ViT-B-32', pretrained='openai')
