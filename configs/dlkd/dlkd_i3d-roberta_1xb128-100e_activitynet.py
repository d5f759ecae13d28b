# DL-DKD (ICCV 2023) on ActivityNet Captions, as the authors'
# do_activitynet.sh (HuiGuanLab/DL-DKD, iccv branch, commit 544b2db): the
# TVR recipe with margin 0.2 (BertAdam, 100 epochs, ranking by 0.7 * inher
# + 0.3 * explore, the 0.5 / 0.5 fusion of 544b2db reported too).
# Provenance: configs/dlkd/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/dlkd_100e.py', '../_base_/datasets/activitynet.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims),
    teacher=dict(feature_dim=_base_.teacher_dim),
    loss_triplet=dict(margin=0.2),
    share_query_proj=True)
val_evaluator = dict(fusion_weight=0.7, extra_fusion_weights=(0.5, ))
test_evaluator = val_evaluator
