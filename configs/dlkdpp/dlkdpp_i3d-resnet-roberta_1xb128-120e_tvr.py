# DL-DKD++ on TVR, as the authors' do_tvr.sh (HuiGuanLab/DL-DKD master,
# commit 5a250df): dynamic soft targets, lr 3e-4, dropout 0.2, margin 0.1,
# seed 9527. Provenance, differences and results: configs/dlkdpp/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkdpp.py',
    '../_base_/schedules/dlkdpp_120e.py', '../_base_/datasets/tvr.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims, input_dropout=0.2, dropout=0.2),
    teacher=dict(feature_dim=_base_.teacher_dim))
optim_wrapper = dict(optimizer=dict(lr=3e-4))
randomness = dict(seed=9527)
