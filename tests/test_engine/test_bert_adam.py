"""BertAdam against a plain per-parameter reading of its update rule, its
checks, and its use through MMEngine's optim wrapper and Runner (the
golden-fixture parity is in tests/test_parity/test_recipe_parity.py)."""
import copy
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from prvr_mm.engine import BertAdam
from tests.helpers.runner import tiny_runner


def reference_step(params,
                   grads,
                   state,
                   lr,
                   wd,
                   b1=0.9,
                   b2=0.999,
                   eps=1e-6,
                   max_norm=1.0):
    """One update, parameter by parameter (float64, no foreach)."""
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        g = g.clone()
        norm = g.norm().item()
        if max_norm > 0:
            g *= min(1.0, max_norm / (norm + 1e-6))
        m, v = state.setdefault(i, (torch.zeros_like(p), torch.zeros_like(p)))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        state[i] = (m, v)
        out.append(p - lr * (m / (v.sqrt() + eps) + wd * p))
    return out


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3, ), (5, ), (2, 2)]
    return [
        torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64))
        for s in shapes
    ]


def test_matches_the_update_rule_with_groups_and_missing_grads():
    params = _params()
    opt = BertAdam([
        dict(params=params[:2], lr=0.01, weight_decay=0.01),
        dict(params=params[2:], lr=0.003, weight_decay=0.0),
    ])
    ref = [p.detach().clone() for p in params]
    state = {}
    gen = torch.Generator().manual_seed(1)
    for step in range(6):
        # large gradients (clipped) and one parameter without gradient
        grads = [
            torch.randn(p.shape, generator=gen, dtype=torch.float64) *
            (5.0 if i == 0 else 0.1) for i, p in enumerate(params)
        ]
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if (i == 3 and step % 2) else g.clone()
        opt.step()
        active = [i for i, p in enumerate(params) if p.grad is not None]
        new = {}
        groups = ((0.01, 0.01, [0, 1]), (0.003, 0.0, [2, 3]))
        for lr, wd, idx in groups:
            idx = [i for i in idx if i in active]
            sub = {k: state[i] for k, i in enumerate(idx) if i in state}
            out = reference_step([ref[i] for i in idx],
                                 [grads[i] for i in idx], sub, lr, wd)
            for k, i in enumerate(idx):
                new[i] = out[k]
                state[i] = sub[k]
        for i in new:
            ref[i] = new[i]
        for i in range(4):
            torch.testing.assert_close(
                params[i].detach(), ref[i], rtol=1e-12, atol=1e-14)
    # each parameter's gradient was clipped on its own, in place
    assert params[0].grad.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert params[1].grad.norm().item() < 1.0
    assert opt.state[params[3]]['step'] == 3  # steps with a gradient


def test_no_bias_correction_first_step():
    """The first step moves a weight by lr * (1 - b1) g / (sqrt(1 - b2) |g|
    + eps), about 3.16 lr (AdamW with bias correction: lr)."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = BertAdam([p], lr=1e-3, weight_decay=0.0)
    grad = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    p.grad = grad.clone()
    opt.step()
    expected = -1e-3 * 0.1 * grad / (math.sqrt(0.001) * grad.abs() + 1e-6)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=0)
    assert 3.1e-3 < p.detach().abs().min().item() < 3.17e-3


def test_clipping_off_and_closure():
    p = torch.nn.Parameter(torch.ones(2))
    opt = BertAdam([p], lr=0.1, weight_decay=0.0, max_grad_norm=0)
    p.grad = torch.tensor([30.0, 40.0])
    loss = opt.step(closure=lambda: torch.tensor(1.5))
    assert loss.item() == 1.5
    assert p.grad.tolist() == [30.0, 40.0]  # untouched


def test_state_dict_round_trip():
    params = _params()
    opt = BertAdam(params, lr=0.01)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = BertAdam(clone, lr=0.01)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as torch.load
    for ps in (params, clone):
        for p in ps:
            p.grad = torch.full_like(p, 0.5)
    opt.step()
    opt2.step()
    for a, b in zip(params, clone):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=0)


def test_arguments_are_checked():
    p = [torch.nn.Parameter(torch.ones(1))]
    for kwargs, key in ((dict(lr=-1), 'lr'), (dict(betas=(0.9, 1.0)), 'betas'),
                        (dict(eps=-1), 'eps'), (dict(weight_decay=-0.1),
                                                'weight_decay')):
        with pytest.raises(ValueError, match=key):
            BertAdam(p, **kwargs)
    emb = torch.nn.Embedding(4, 2, sparse=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match='sparse'):
        BertAdam(emb.parameters()).step()


def test_built_through_mmengine_under_the_mmaction_scope():
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='BertAdam', lr=2.5e-4, weight_decay=0.01),
            paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)))
    assert isinstance(wrapper.optimizer, BertAdam)
    decays = {
        name: group['weight_decay']
        for (name, _), group in zip(model.named_parameters(),
                                    wrapper.optimizer.param_groups)
    }
    assert decays == {
        '0.weight': 0.01,
        '0.bias': 0.0,
        '1.weight': 0.0,
        '1.bias': 0.0,
        '2.weight': 0.01,
        '2.bias': 0.0
    }
    model(torch.ones(2, 3)).sum().backward()
    wrapper.step()  # updates every parameter
    assert all(wrapper.optimizer.state[p]['step'] == 1
               for p in model.parameters())


def test_trains_in_the_runner(tmp_path):
    runner = tiny_runner(
        tmp_path,
        iters_per_epoch=3,
        train_cfg=dict(by_epoch=True, max_epochs=2))
    before = runner.model.linear.weight.detach().clone()
    runner.train()
    assert isinstance(runner.optim_wrapper.optimizer, BertAdam)
    assert not torch.equal(before, runner.model.linear.weight.detach())
