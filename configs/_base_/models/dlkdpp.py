# DL-DKD++ student: the DL-DKD dual student (dlkd.py) trained with dynamic
# soft targets: the inheritance branch's InfoNCE targets mix the one-hot
# labels with the CLIP teacher's scores, the exploration branch's with its
# own scores. Their schedules alpha / beta belong to DynamicKDHook
# (schedules/dlkdpp_120e.py).
_base_ = ['./dlkd.py']

model = dict(label_style='soft')
