"""``--amp`` on CPU: bf16 autocast through ``CPUAmpOptimWrapper``, in the
wrapper itself and in a real ``tools/train.py`` run."""
import glob
import json
import math
import os.path as osp

import pytest
import torch
from torch import nn

from prvr_mm.engine import CPUAmpOptimWrapper
from prvr_mm.errors import PRVRConfigError
from tests.helpers.tools import TINY_TOY_CFG, run_tool, tool


def test_forward_runs_in_bf16_and_params_stay_fp32():
    model = nn.Linear(8, 4)
    wrapper = CPUAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 8))
    assert out.dtype == torch.bfloat16
    loss = out.float().pow(2).mean()
    wrapper.update_params(loss)
    assert model.weight.dtype == torch.float32
    assert model.weight.grad is None  # update_params zeroes the grads
    with pytest.raises(PRVRConfigError, match='bfloat16 only'):
        CPUAmpOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_train_tool_amp_on_cpu_trains_one_epoch(tiny_toy_root, tmp_path):
    work = str(tmp_path)
    run_tool(
        tool('train.py'),
        TINY_TOY_CFG,
        '--amp',
        '--work-dir',
        work,
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        'train_cfg.max_epochs=1',
        'experiment_name=cpu_amp',
        cwd=work)
    with open(glob.glob(osp.join(work, '*', '*.log'))[0]) as f:
        assert 'CPUAmpOptimWrapper' in f.read()
    path = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))[0]
    with open(path) as f:
        records = [json.loads(line) for line in f]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert losses and all(math.isfinite(v) for v in losses)
    assert any('prvr/SumR' in r for r in records)
