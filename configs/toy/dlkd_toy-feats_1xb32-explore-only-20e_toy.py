# Ablation of dlkd_toy-feats_1xb32-20e_toy.py, "exploration only": the
# exploration branch alone, trained on the PRVR data only (triplet ranking +
# InfoNCE; no teacher is built, no distillation); it ranks on its own. The
# loader is the same as in every toy config (the teacher frames only set
# the clip count the student clips are resampled to).
_base_ = ['./dlkd_toy-feats_1xb32-20e_toy.py']

model = dict(
    inheritance=None, exploration=_base_.model.inheritance, teacher=None)
custom_hooks = [_base_.early_stopping]
val_evaluator = dict(branches=('explore', ))
test_evaluator = val_evaluator
