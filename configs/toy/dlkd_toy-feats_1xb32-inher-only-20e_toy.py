# Ablation of dlkd_toy-feats_1xb32-20e_toy.py, "inheritance only": the
# inheritance branch alone (the authors' double_branch=False), trained with
# the same losses and distillation schedule; it ranks on its own.
_base_ = ['./dlkd_toy-feats_1xb32-20e_toy.py']

model = dict(double_branch=False)
val_evaluator = dict(branches=('inher', ))
test_evaluator = val_evaluator
