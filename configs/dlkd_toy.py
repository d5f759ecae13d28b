_base_ = ['./toy/dlkd_toy-feats_1xb32-20e_toy.py']
