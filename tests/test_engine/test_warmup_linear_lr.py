"""WarmupLinearLR: the authors' warm-up + linear decay, built by the Runner
from ``train_cfg.max_epochs`` however it was set, ending at 0."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

from prvr_mm.engine import WarmupLinearLR, warmup_linear
from tests.helpers.runner import LrRecorder, tiny_runner

BASE_LR = 1e-3
# the schedule part of configs/_base_/schedules/bertadam_linear.py: no
# `end`, so the Runner fills it from train_cfg when it builds the scheduler
SCHEDULE = dict(
    train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=120),
    optim_wrapper=dict(optimizer=dict(type='BertAdam', lr=BASE_LR)),
    param_scheduler=dict(
        type='WarmupLinearLR',
        warmup_ratio=0.01,
        by_epoch=True,
        convert_to_iter_based=True))


def test_multiplier_function():
    assert warmup_linear(0.0, 0.1) == 0.0
    assert warmup_linear(0.05, 0.1) == pytest.approx(0.5)
    assert warmup_linear(0.1, 0.1) == pytest.approx(1.0)
    assert warmup_linear(0.2, 0.1) == pytest.approx(8 / 9)
    assert warmup_linear(1.0, 0.1) == 0.0
    assert warmup_linear(1.5, 0.1) == 0.0  # clamped past the end
    assert warmup_linear(0.25, 0.0) == pytest.approx(0.75)  # no warm-up


def test_arguments_are_checked():
    opt = OptimWrapper(
        torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0))
    with pytest.raises(ValueError, match='warmup_ratio'):
        WarmupLinearLR(opt, warmup_ratio=1.0, end=10)
    with pytest.raises(ValueError, match='max_epochs'):
        WarmupLinearLR(opt, warmup_ratio=0.1)  # no end, not via the Runner
    with pytest.raises(ValueError, match='end should be larger'):
        WarmupLinearLR(opt, begin=3, end=3)


@pytest.mark.parametrize('max_epochs', [1, 3, 10, 120])
def test_schedule_follows_max_epochs_through_the_runner(tmp_path, max_epochs):
    """``--cfg-options train_cfg.max_epochs=N`` on a 120-epoch config: the
    scheduler built by the Runner spans N epochs, starts at 0, peaks after
    1 % of the run and decays linearly to 0 at its end."""
    cfg = Config(SCHEDULE)
    cfg.merge_from_dict({'train_cfg.max_epochs': max_epochs})  # the CLI way
    iters = 2
    recorder = LrRecorder()
    runner = tiny_runner(
        tmp_path,
        iters_per_epoch=iters,
        train_cfg=cfg.train_cfg,
        optim_wrapper=cfg.optim_wrapper,
        param_scheduler=cfg.param_scheduler,
        custom_hooks=[recorder])
    runner.train()
    (scheduler, ) = runner.param_schedulers
    total = max_epochs * iters
    assert isinstance(scheduler, WarmupLinearLR)
    assert (scheduler.begin, scheduler.end) == (0, total)
    lrs = recorder.lrs
    assert len(lrs) == total
    expected = [BASE_LR * warmup_linear(t / total, 0.01) for t in range(total)]
    assert lrs == pytest.approx(expected, rel=1e-12, abs=1e-18)
    warmup = 0.01 * total
    peak_iter = int(warmup) + (warmup % 1 > 0)  # first iteration after it
    assert lrs[0] == 0.0
    assert lrs[peak_iter] == pytest.approx(BASE_LR * (total - peak_iter) /
                                           (total - warmup))
    assert max(lrs) <= BASE_LR
    assert lrs[-1] == pytest.approx(BASE_LR / (total - warmup))  # -> 0
    # never stuck at a small fraction: the run averages half the peak
    assert sum(lrs) / total == pytest.approx(BASE_LR / 2, rel=0.05 + 1 / total)


def test_scheduler_state_resumes():
    param = torch.nn.Parameter(torch.ones(1))
    opt = OptimWrapper(torch.optim.SGD([param], lr=1.0))
    sched = PARAM_SCHEDULERS.build(
        dict(type='WarmupLinearLR', warmup_ratio=0.1, by_epoch=False, end=20),
        default_args=dict(optimizer=opt))
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = OptimWrapper(torch.optim.SGD([param], lr=1.0))
    sched2 = PARAM_SCHEDULERS.build(
        dict(type='WarmupLinearLR', warmup_ratio=0.1, by_epoch=False, end=20),
        default_args=dict(optimizer=opt2))
    sched2.load_state_dict(state)
    for _ in range(3):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
    assert opt2.get_lr() == opt.get_lr()
    assert opt.get_lr()['lr'][0] == pytest.approx(warmup_linear(0.5, 0.1))
