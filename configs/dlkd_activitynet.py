_base_ = ['./dlkd/dlkd_i3d-roberta_1xb128-100e_activitynet.py']
