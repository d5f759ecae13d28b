# DL-DKD++ student: the DL-DKD dual student (models/dlkd.py) trained with
# dynamic soft targets (label_style='soft'): the inheritance branch's
# InfoNCE targets mix the one-hot labels with the CLIP teacher's scores, the
# exploration branch's with its own scores. alpha / beta are set every epoch
# by DynamicKDHook (schedules/dlkdpp_adamw_120e.py); 0.8 is their initial
# value. Ranking fuses 0.7 * inheritance + 0.3 * exploration.
_base_ = ['./dlkd.py']

model = dict(label_style='soft', alpha=0.8, beta=0.8, fusion_weight=0.7)
