# Charades-STA with CLIP ViT-B/32 inputs for the student: the video input is
# the CLIP frame file the teacher reads (512-d), the query input per-token
# CLIP text features (512-d) of the same open_clip model, so one
# downloadable model serves feature extraction, teacher and free-text search
# (docs/search.md). inputs='clip' takes every file name from the layout
# (prvr_mm.datasets.layout.collection_files), so your own collection is
# `--cfg-options data_root=data/mine collection=mine` away; the files are
# written by tools/data/extract_clip_features.py (frames, sentences) and
# `tools/data/extract_text_features.py ROOT COLLECTION --encoder open_clip`
# (tokens); check them with `check_dataset.py ROOT COLLECTION --inputs clip`.
_base_ = ['./charades.py']

video_dim, query_dim = 512, 512
branch_dims = dict(
    _base_.branch_dims, video_dim=video_dim, query_dim=query_dim)
_clip = dict(inputs='clip', video_dim=video_dim, text_dim=query_dim)
train_dataloader = dict(dataset=_clip)
# evaluation reads the CLIP sentence file too (the frame file is the video
# input): PRVRMetric then reports CLIP's zero-shot ranking as
# prvr/clip_zeroshot/... beside the student's
_clip_eval = dict(_clip, with_teacher=True, teacher_dim=_base_.teacher_dim)
val_dataloader = dict(dataset=_clip_eval)
test_dataloader = dict(dataset=_clip_eval)

# the encoder of the query features, for free-text search (PRVRInferencer)
text_encoder = dict(
    type='OpenCLIPTextEncoder', model_name='ViT-B-32', pretrained='openai')
