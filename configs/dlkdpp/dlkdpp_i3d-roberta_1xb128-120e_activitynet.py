# DL-DKD++ on ActivityNet Captions, as the authors' do_activitynet.sh
# (HuiGuanLab/DL-DKD master, commit 5a250df): dynamic soft targets, dropout
# 0.25, margin 0.2, seed 9527. Provenance, differences and results:
# configs/dlkdpp/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkdpp.py',
    '../_base_/schedules/dlkdpp_120e.py', '../_base_/datasets/activitynet.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims, input_dropout=0.25, dropout=0.25),
    teacher=dict(feature_dim=_base_.teacher_dim),
    loss_triplet=dict(margin=0.2))
randomness = dict(seed=9527)
