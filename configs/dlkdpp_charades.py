_base_ = ['./dlkdpp/dlkdpp_i3d-rgb-lgi-roberta_1xb128-120e_charades.py']
