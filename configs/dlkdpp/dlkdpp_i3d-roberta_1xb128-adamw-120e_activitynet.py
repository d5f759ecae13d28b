# The AdamW variant of dlkdpp_i3d-roberta_1xb128-120e_activitynet.py (DL-DKD++
# on ActivityNet Captions): torch's AdamW (eps 1e-6, bias correction, no
# per-parameter gradient clipping) instead of the authors' BertAdam; everything
# else, the learning rate and its schedule included, is the paper config's. A
# comparison, not the authors' training (docs/recipe.md).
_base_ = ['./dlkdpp_i3d-roberta_1xb128-120e_activitynet.py']

optim_wrapper = dict(optimizer=_base_.adamw_optimizer)
