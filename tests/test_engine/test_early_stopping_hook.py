"""ResumableEarlyStoppingHook: the authors' stop epoch and best epoch for a
scripted validation SumR sequence, through the real Runner; its state
survives ``resume``."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.hooks import EarlyStoppingHook

from prvr_mm.engine import ResumableEarlyStoppingHook
from tests.helpers.runner import tiny_runner

# best 9.0 at epoch 4, then 11 validations that do not beat it (ties
# included): the authors stop after the 11th (es_cnt > 10), at epoch 15
TIES = [5.0, 8.0, 8.0, 7.0, 9.0] + [9.0, 8.5] * 5 + [9.0, 12.0, 13.0]
# improvements keep resetting the counter; the run ends at max_epochs
RISING = [1.0, 2.0, 2.0, 3.0] + [2.5] * 9 + [3.5, 3.0, 3.2, 3.6, 3.1]


def authors_rule(scores, max_es_cnt=10):
    """The authors' train loop (method/train.py), on a list of validation
    scores: returns (last epoch run, epoch of the saved checkpoint)."""
    prev_best, es_cnt, best_epoch = 0.0, 0, None
    for epoch, score in enumerate(scores):
        if score > prev_best:
            es_cnt, prev_best, best_epoch = 0, score, epoch
        else:
            es_cnt += 1
            if es_cnt > max_es_cnt:
                return epoch, best_epoch
    return len(scores) - 1, best_epoch


def _hook_cfg():
    return dict(
        type='ResumableEarlyStoppingHook', monitor='prvr/SumR', rule='greater')


def _best_checkpoint(work_dir):
    (best, ) = glob.glob(osp.join(work_dir, 'best_prvr_SumR_epoch_*.pth'))
    return best, int(best.rsplit('_', 1)[1][:-len('.pth')]) - 1  # 0-based


@pytest.mark.parametrize('scores', [TIES, RISING], ids=['ties', 'rising'])
def test_same_stop_and_best_epoch_as_the_authors(tmp_path, scores):
    runner = tiny_runner(
        tmp_path,
        scores=scores,
        train_cfg=dict(by_epoch=True, max_epochs=len(scores)),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                interval=100,
                save_best='prvr/SumR',
                rule='greater'),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[_hook_cfg()])
    runner.train()
    last, best = authors_rule(scores)
    assert runner.epoch == last + 1  # epochs trained
    path, best_epoch = _best_checkpoint(str(tmp_path))
    assert best_epoch == best
    if scores is TIES:
        assert (last, best) == (15, 4)
    # written after its validation, with the state of that validation
    state = torch.load(
        path, map_location='cpu', weights_only=True)['early_stopping']
    assert (state['best_score'], state['wait_count']) == (scores[best], 0)


def test_stock_hook_differs_on_ties():
    """MMEngine's rule counts a tie as an improvement (so it never stops on
    TIES with min_delta=0): the reason for the strict rule."""
    stock = EarlyStoppingHook(
        'prvr/SumR', rule='greater', min_delta=0, patience=11)
    ours = ResumableEarlyStoppingHook('prvr/SumR', rule='greater')
    stops = {}
    for name, hook in (('stock', stock), ('ours', ours)):
        stops[name] = next(
            (e
             for e, s in enumerate(TIES) if hook._check_stop_condition(s)[0]),
            None)
    assert stops == dict(stock=None, ours=15)


def test_state_survives_resume(tmp_path):
    """Epoch checkpoints carry the counter and best score and a resumed run
    restores them.  (MMEngine writes ``epoch_k.pth`` before validating
    epoch k and does not validate epoch k again when resuming from it, so
    the resumed run misses that one validation.)"""
    scores = [5.0, 9.0] + [8.0] * 20  # uninterrupted: stops at epoch 12
    assert authors_rule(scores) == (12, 1)
    work = tmp_path / 'run'
    first = tiny_runner(
        work,
        scores=scores,
        train_cfg=dict(by_epoch=True, max_epochs=6),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[_hook_cfg()])
    first.train()
    ckpt = torch.load(
        str(work / 'epoch_6.pth'), map_location='cpu', weights_only=True)
    # written before validation 5 (0-based): validations 0..4 counted
    assert ckpt['early_stopping'] == dict(
        monitor='prvr/SumR', rule='greater', best_score=9.0, wait_count=3)

    second = tiny_runner(
        work,
        scores=scores,
        train_cfg=dict(by_epoch=True, max_epochs=len(scores)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=100),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[_hook_cfg()],
        resume=True,
        load_from=str(work / 'epoch_6.pth'))
    second.train()
    hook = next(
        h for h in second.hooks if isinstance(h, ResumableEarlyStoppingHook))
    assert (hook.best_score, hook.wait_count) == (9.0, 11)
    # the resumed run counts on from 3: validations 6..13 -> stop at 13
    seen = scores[:5] + scores[6:]
    assert second.epoch == authors_rule(seen)[0] + 2 == 14
    # counting afresh (MMEngine's EarlyStoppingHook on resume) would have
    # taken the first resumed validation as the best and stopped at 17
    assert authors_rule(scores[6:])[0] + 6 == 17


def test_load_from_does_not_restore(tmp_path):
    hook = ResumableEarlyStoppingHook('prvr/SumR', rule='greater')
    hook.wait_count, hook.best_score = 3, 7.0
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    fresh = ResumableEarlyStoppingHook('prvr/SumR', rule='greater')

    class _Runner:
        _resume = False

    fresh.after_load_checkpoint(_Runner(), ckpt)
    assert (fresh.wait_count, fresh.best_score) == (0, float('-inf'))
    _Runner._resume = True
    fresh.after_load_checkpoint(_Runner(), ckpt)
    assert (fresh.wait_count, fresh.best_score) == (3, 7.0)
    other = ResumableEarlyStoppingHook('prvr/mAP', rule='greater')
    with pytest.raises(ValueError, match='prvr/mAP'):
        other.after_load_checkpoint(_Runner(), ckpt)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match='patience'):
        ResumableEarlyStoppingHook('prvr/SumR', rule='greater', patience=0)
    with pytest.raises(ValueError, match='min_delta'):
        ResumableEarlyStoppingHook('prvr/SumR', rule='greater', min_delta=-1)
    with pytest.raises(ValueError, match='rule'):
        ResumableEarlyStoppingHook('prvr/SumR')  # cannot infer for SumR


def test_tools_drop_it_like_mmengines_hook():
    """tools/test.py and ``--no-validate`` drop early stopping by type: the
    subclass is dropped too, other hooks stay."""
    from mmengine.config import Config

    from prvr_mm.utils import drop_custom_hooks
    cfg = Config(
        dict(custom_hooks=[
            _hook_cfg(),
            dict(type='mmengine.EarlyStoppingHook', monitor='a', rule='less'),
            dict(type='DynamicKDHook'),
            dict(type=ResumableEarlyStoppingHook, monitor='b', rule='less'),
        ]))
    drop_custom_hooks(cfg, ['EarlyStoppingHook'])
    assert [h['type'] for h in cfg.custom_hooks] == ['DynamicKDHook']
