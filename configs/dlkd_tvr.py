_base_ = ['./dlkd/dlkd_i3d-resnet-roberta_1xb128-100e_tvr.py']
