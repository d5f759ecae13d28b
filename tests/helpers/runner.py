"""A tiny model, data and a scripted validation metric that drive the real
MMEngine Runner (optimiser, scheduler and early-stopping tests)."""
import itertools
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader

_RUN_IDS = itertools.count()


class LinearModel(BaseModel):
    """y = Wx + b on 2-d inputs; loss = mean(y^2)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return list(out)


class ScriptedSumR(BaseMetric):
    """Returns ``prvr/SumR = scores[epoch]`` (epoch = the 0-based epoch just
    trained, read from the message hub like any hook would)."""

    default_prefix = 'prvr'

    def __init__(self, scores: Sequence[float]) -> None:
        super().__init__()
        self.scores = list(scores)
        self.seen = []

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(1 for _ in data_samples)

    def compute_metrics(self, results) -> dict:
        epoch = MessageHub.get_current_instance().get_info('epoch')
        self.seen.append(epoch)
        return dict(SumR=float(self.scores[epoch]))


class LrRecorder(Hook):
    """Records the learning rate used by every training iteration."""

    def __init__(self) -> None:
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def _loader(num_samples: int) -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    data = [
        dict(inputs=torch.randn(2, generator=gen)) for _ in range(num_samples)
    ]
    return DataLoader(data, batch_size=2, collate_fn=pseudo_collate)


def tiny_runner(work_dir, iters_per_epoch=2, scores=None, **kwargs) -> Runner:
    """A real Runner on :class:`LinearModel` with ``iters_per_epoch``
    batches of 2 samples, BertAdam, no checkpoints; ``scores`` adds a
    validation loop whose metric is :class:`ScriptedSumR`. Other keyword
    arguments go to ``Runner`` (and win)."""
    cfg = dict(
        model=LinearModel(),
        work_dir=str(work_dir),
        train_dataloader=_loader(2 * iters_per_epoch),
        optim_wrapper=dict(optimizer=dict(type='BertAdam', lr=1e-3)),
        default_hooks=dict(
            checkpoint=None, logger=dict(type='LoggerHook', interval=1000)),
        default_scope='mmaction',
        experiment_name=f'tiny_runner_{next(_RUN_IDS)}',
        log_level='WARNING')
    if scores is not None:
        cfg.update(
            val_dataloader=_loader(2),
            val_cfg=dict(),
            val_evaluator=Evaluator([ScriptedSumR(scores)]))
    cfg.update(kwargs)
    return Runner(**cfg)
