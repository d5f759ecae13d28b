# DL-DKD (the ICCV recipe of dlkd_i3d-roberta_1xb128-100e_activitynet.py,
# margin 0.2) on Charades-STA with CLIP-only inputs: CLIP ViT-B/32 frame
# features as video input and per-token CLIP text features as query input,
# from the same frozen open_clip model as the teacher; searchable with free
# text (docs/search.md). Not a published configuration: see
# configs/dlkd/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/dlkd_100e.py', '../_base_/datasets/charades_clip.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims),
    teacher=dict(feature_dim=_base_.teacher_dim),
    loss_triplet=dict(margin=0.2),
    share_query_proj=True)
val_evaluator = dict(fusion_weight=0.7, extra_fusion_weights=(0.5, ))
test_evaluator = val_evaluator
