# DL-DKD++ on Charades-STA, as the authors' do_charades.sh (HuiGuanLab/DL-DKD
# master, commit 4bd3312): dynamic soft targets, lr 2.4e-4, dropout 0.15,
# margin 0.2, seed 9527. Provenance, differences and results:
# configs/dlkdpp/README.md.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dlkdpp.py',
    '../_base_/schedules/dlkdpp_120e.py', '../_base_/datasets/charades.py'
]

model = dict(
    inheritance=dict(**_base_.branch_dims, input_dropout=0.15, dropout=0.15),
    teacher=dict(feature_dim=_base_.teacher_dim),
    loss_triplet=dict(margin=0.2))
optim_wrapper = dict(optimizer=dict(lr=2.4e-4))
randomness = dict(seed=9527)
