_base_ = ['./toy/dlkd_toy-feats_1xb64-20e_toy.py']
