# DL-DKD (ICCV 2023) on TVR, as the authors' do_tvr.sh (HuiGuanLab/DL-DKD
# commit 544b2db): hard InfoNCE targets, the exploration branch shares the
# inheritance query projection, ranking by 0.5 * inher + 0.5 * explore.
# Provenance, differences and results: configs/dlkd/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkd.py',
    '../_base_/schedules/dlkd_adamw_120e.py', '../_base_/datasets/tvr.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims),
    teacher=dict(feature_dim=_base_.teacher_dim),
    share_query_proj=True)
val_evaluator = dict(fusion_weight=0.5)
test_evaluator = val_evaluator
