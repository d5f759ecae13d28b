"""``--resume`` with another run length: WarmupLinearLR and the
DynamicKDHook schedules rescale their remaining part to the new end; a
scheduler that cannot is refused by ResumeIntentHook with both lengths;
never a frozen learning rate (real Runner on a tiny model)."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper

from prvr_mm.engine import DynamicKDHook, WarmupLinearLR, warmup_linear
from prvr_mm.engine.schedules import remap_step, target_param_at
from prvr_mm.errors import PRVRConfigError
from tests.helpers.runner import LrRecorder, tiny_runner

WARMUP = 0.1


def _optimizer(lr=1.0):
    return OptimWrapper(
        torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=lr))


def _run(scheduler, steps):
    """Values applied at each of ``steps`` iterations."""
    values = []
    for _ in range(steps):
        values.append(scheduler.optimizer.param_groups[0]['lr'])
        scheduler.optimizer.step()
        scheduler.step()
    return values


def _resumed(state, end):
    """A scheduler built for a run of ``end`` steps, resumed from state
    (the optimizer's lr restored as MMEngine does before the schedulers)."""
    opt = _optimizer()
    scheduler = WarmupLinearLR(
        opt, warmup_ratio=WARMUP, end=end, by_epoch=False)
    opt.param_groups[0]['lr'] = state['_last_value'][0]
    scheduler.load_state_dict(state)
    return scheduler


def test_remap_step_is_continuous_and_ends_at_the_old_end():
    assert remap_step(7, 10, []) == (7, 10)
    rescales = [(5, 10)]
    assert remap_step(5, 20, rescales) == (5, 10)
    assert remap_step(3, 20, rescales) == (3, 10)  # before: unchanged
    assert remap_step(20, 20, rescales) == (10, 10)
    assert remap_step(12.5, 20, rescales) == (7.5, 10)
    # two resumes compose: 10 -> 20 at step 5, 20 -> 30 at step 15
    step, total = remap_step(30, 30, [(5, 10), (15, 20)])
    assert (step, total) == (10, 10)


def test_finished_run_resumed_longer_decays_to_zero_at_the_new_end():
    old = WarmupLinearLR(
        _optimizer(), warmup_ratio=WARMUP, end=10, by_epoch=False)
    first = _run(old, 10)
    assert first[-1] == pytest.approx(warmup_linear(0.9, WARMUP))
    scheduler = _resumed(old.state_dict(), end=20)
    rest = _run(scheduler, 10)
    assert len(set(rest)) == 10, 'frozen learning rate'
    drops = [a - b for a, b in zip([first[-1]] + rest, rest)]
    assert drops == pytest.approx([first[-1] / 11] * 10)  # linear to 0
    assert scheduler.multiplier(20) == 0.0
    assert scheduler.state_dict()['rescales'] == [(9, 10)]


def test_mid_run_resume_shorter_and_twice():
    old = WarmupLinearLR(
        _optimizer(), warmup_ratio=WARMUP, end=10, by_epoch=False)
    first = _run(old, 4)
    shorter = _resumed(old.state_dict(), end=7)
    values = _run(shorter, 3)
    # steps 4, 5, 6 of 7 take the old schedule's steps 4, 6, 8 of 10
    assert values == pytest.approx(
        [warmup_linear(p, WARMUP) for p in (0.4, 0.6, 0.8)])
    assert first[-1] > values[0]
    assert shorter.multiplier(7) == 0.0
    again = _resumed(shorter.state_dict(), end=12)
    assert again.multiplier(6) == pytest.approx(shorter.multiplier(6))
    assert again.multiplier(12) == 0.0
    assert _run(again, 5)[0] == pytest.approx(again.multiplier(7))


def test_run_ending_before_the_resumed_step_is_refused():
    old = WarmupLinearLR(
        _optimizer(), warmup_ratio=WARMUP, end=10, by_epoch=False)
    _run(old, 8)
    with pytest.raises(PRVRConfigError, match='nothing is left to train'):
        _resumed(old.state_dict(), end=5)


def _fake_runner(max_epochs):
    return SimpleNamespace(max_epochs=max_epochs, _resume=True)


def test_dynamic_kd_schedules_on_a_longer_resumed_run():
    """linear alpha/beta follow the run length: rescaled like the lr; the KD
    weight and exp/sigmoid schedules depend on the epoch only."""
    kwargs = dict(
        kd_decay='exp',
        alpha_decay='linear',
        alpha_init=0.8,
        beta_decay='sigmoid',
        beta_init=0.8)
    old = DynamicKDHook(**kwargs)
    checkpoint = dict(meta=dict(epoch=4))
    old.before_save_checkpoint(_fake_runner(4), checkpoint)
    assert checkpoint['meta']['dynamic_kd'] == dict(max_epochs=4, rescales=[])
    hook = DynamicKDHook(**kwargs)
    hook.after_load_checkpoint(_fake_runner(8), checkpoint)
    assert hook.rescales == [(3, 4)]
    for epoch in range(4):  # the epochs already trained: unchanged
        assert hook.values_at(epoch,
                              8) == pytest.approx(old.values_at(epoch, 4))
    alphas = [hook.values_at(e, 8)['alpha'] for e in range(3, 9)]
    drops = [a - b for a, b in zip(alphas, alphas[1:])]
    assert drops == pytest.approx([drops[0]] * 5)  # linear, no jump
    assert alphas[-1] == pytest.approx(0.0)  # the floor at the new end
    for epoch in range(4, 8):
        values = hook.values_at(epoch, 8)
        assert values['kd_weight'] == pytest.approx(0.95**epoch)
        assert values['beta'] == pytest.approx(
            target_param_at(epoch, 0.8, 'sigmoid', None))
    # a fixed max_epochs in the hook's config is kept as written
    fixed = DynamicKDHook(max_epochs=4, **kwargs)
    fixed.after_load_checkpoint(_fake_runner(8), checkpoint)
    assert fixed.values_at(5, 8) == old.values_at(5, 4)


def _train(work_dir, max_epochs, scheduler, **kwargs):
    runner = tiny_runner(
        work_dir,
        iters_per_epoch=2,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        param_scheduler=scheduler,
        default_hooks=dict(
            checkpoint=dict(type='SafeCheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[dict(type='ResumeIntentHook')] +
        kwargs.pop('custom_hooks', []),
        **kwargs)
    runner.train()
    return runner


def test_resume_intent_refuses_a_scheduler_that_would_freeze(tmp_path):
    """MMEngine's schedulers take their end from the checkpoint: with a
    longer run the lr would stay at its last value; refused, both
    lengths named."""
    cosine = dict(type='CosineAnnealingLR', by_epoch=True, T_max=2)
    _train(tmp_path, 2, cosine)
    with pytest.raises(PRVRConfigError) as err:
        _train(
            tmp_path,
            4,
            dict(cosine, T_max=4),
            resume=True,
            load_from=osp.join(tmp_path, 'epoch_2.pth'))
    message = str(err.value)
    assert 'CosineAnnealingLR (lr) ends at epoch 2 ' \
           '(train_cfg.max_epochs=2), this run\'s at epoch 4 ' \
           '(train_cfg.max_epochs=4)' in message
    assert 'train_cfg.max_epochs=2' in message and 'WarmupLinearLR' in message


def test_resume_intent_refuses_a_run_shorter_than_the_checkpoint(tmp_path):
    linear = dict(
        type='WarmupLinearLR', by_epoch=True, convert_to_iter_based=True)
    _train(tmp_path, 3, linear)
    with pytest.raises(
            PRVRConfigError,
            match='at epoch 3 of a 3-epoch run, but '
            'train_cfg.max_epochs=2: nothing is left'):
        _train(
            tmp_path,
            2,
            linear,
            resume=True,
            load_from=osp.join(tmp_path, 'epoch_3.pth'))


def test_resumed_runner_follows_the_new_end(tmp_path):
    """The real Runner: 2 epochs, then resumed to 4; every lr differs and
    the last one is one equal step above 0."""
    linear = dict(
        type='WarmupLinearLR',
        warmup_ratio=WARMUP,
        by_epoch=True,
        convert_to_iter_based=True)
    _train(tmp_path, 2, linear)
    recorder = LrRecorder()
    runner = _train(
        tmp_path,
        4,
        linear,
        resume=True,
        load_from=osp.join(tmp_path, 'epoch_2.pth'),
        custom_hooks=[recorder])
    lrs = recorder.lrs
    assert len(lrs) == 4 and len(set(lrs)) == 4
    drops = [a - b for a, b in zip(lrs, lrs[1:])]
    assert drops == pytest.approx([drops[0]] * 3)
    assert lrs[-1] == pytest.approx(drops[0])
    (scheduler, ) = runner.param_schedulers
    assert scheduler.end == 8 and scheduler.multiplier(8) == 0.0
