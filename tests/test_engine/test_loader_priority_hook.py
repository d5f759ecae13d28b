"""LoaderPriorityHook: the real Runner's loader workers run niced, still
seeded by MMEngine."""
import os

import pytest
import torch
from mmengine.hooks import Hook
from torch.utils.data import Dataset

from prvr_mm.engine.hooks import LoaderPriorityHook
from prvr_mm.engine.hooks.loader_priority_hook import CPU_WORKER_NICE
from tests.helpers.runner import tiny_runner


class _NiceProbe(Dataset):
    """Each sample: the worker's niceness and a draw of its torch RNG."""

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(
            inputs=torch.tensor([float(os.nice(0)),
                                 torch.rand(()).item()]))


class _Batches(Hook):

    def __init__(self):
        self.seen = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.seen.append(torch.stack(data_batch['inputs']))


def _samples(work_dir, nice):
    record = _Batches()
    hooks = dict(checkpoint=None, logger=dict(type='LoggerHook', interval=99))
    if nice is not None:
        hooks['loader_priority'] = dict(type='LoaderPriorityHook', nice=nice)
    runner = tiny_runner(
        work_dir,
        train_dataloader=dict(
            dataset=_NiceProbe(),
            batch_size=2,
            num_workers=1,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=hooks,
        custom_hooks=[record],
        randomness=dict(seed=3))
    runner.train()
    return torch.cat(record.seen)


def test_workers_are_niced_and_still_seeded(tmp_path):
    base = _samples(tmp_path / 'plain', None)
    niced = _samples(tmp_path / 'niced', 3)
    assert torch.equal(niced[:, 0], base[:, 0] + 3)
    assert base[:, 0].eq(os.nice(0)).all()  # the workers' own niceness
    # MMEngine's seeding still ran first: the same draws
    assert torch.equal(niced[:, 1], base[:, 1])
    zero = _samples(tmp_path / 'zero', 0)
    assert torch.equal(zero, base)


def test_auto_is_for_cpu_training_only(tmp_path):
    runner = tiny_runner(tmp_path, train_cfg=dict(by_epoch=True, max_epochs=1))
    assert LoaderPriorityHook().resolve(runner) == CPU_WORKER_NICE
    assert LoaderPriorityHook(nice=2).resolve(runner) == 2
    with pytest.raises(ValueError, match='non-negative int'):
        LoaderPriorityHook(nice=-1)
