_base_ = ['./dlkd/dlkd_i3d-resnet-roberta_1xb128-120e_tvr.py']
