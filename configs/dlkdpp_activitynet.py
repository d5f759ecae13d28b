_base_ = ['./dlkdpp/dlkdpp_i3d-roberta_1xb128-120e_activitynet.py']
