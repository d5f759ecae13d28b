"""The raw-video toy configs (2D ResNet-18, 3D X3D-S, online CLIP teacher)
train one epoch and test through the MMEngine Runner, the 2D backbone
fine-tuned and the 3D one frozen."""
import math
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from tests.helpers.tools import ROOT

CONFIGS = {
    '2d': 'configs/toy/dlkd_r18-raw_1xb8-5e_toy.py',
    '3d': 'configs/toy/dlkd_x3d-s-raw_1xb8-5e_toy.py',
}


def _tiny(cfg: Config, data_root: str, work_dir: str) -> Config:
    """The config on the tiny videos: 4 clips, no workers, one epoch."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
        loader.dataset.generate_toy = None
        for t in loader.dataset.pipeline:
            if t['type'] == 'SampleFrames':
                t['num_clips'] = 4
    cfg.train_dataloader.batch_size = 3
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = work_dir
    cfg.experiment_name = f'raw_{uuid.uuid4().hex[:8]}'
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


class _BackboneSnapshot(Hook):
    """Keeps the backbone weights after the Runner initialised them."""

    def before_train(self, runner) -> None:
        self.start = {
            k: v.clone()
            for k, v in runner.model.frontend.backbone.state_dict().items()
        }


@pytest.mark.parametrize('kind', ['2d', '3d'])
def test_raw_config_trains_and_tests_through_the_runner(
        kind, tiny_raw_root, tmp_path):
    cfg = _tiny(
        Config.fromfile(osp.join(ROOT, CONFIGS[kind])), tiny_raw_root,
        str(tmp_path / 'work'))
    assert cfg.model.frontend.frozen is False  # both configs fine-tune
    if kind == '3d':  # the frozen mode through the Runner (and no X3D
        cfg.model.frontend.frozen = True  # backward pass: slow on CPU)
    runner = Runner.from_cfg(cfg)
    snapshot = _BackboneSnapshot()
    runner.register_hook(snapshot)
    model = runner.model
    backbone = model.frontend.backbone
    runner.train()
    metrics = runner.test()

    for key in ('prvr/SumR', 'prvr/inher/R@1', 'prvr/explore/mAP'):
        assert math.isfinite(metrics[key]), key
    # the online teacher was built for training (and only then)
    assert model.teacher._clip is not None
    ckpt = torch.load(
        osp.join(cfg.work_dir, 'epoch_1.pth'), map_location='cpu')
    keys = list(ckpt['state_dict'])
    assert any(k.startswith('frontend.backbone.') for k in keys)
    assert not any(k.startswith('teacher.') for k in keys)  # never saved
    changed = [
        k for k, v in backbone.state_dict().items()
        if not torch.equal(v, snapshot.start[k])
    ]
    if kind == '2d':  # fine-tuned with the student
        assert model.frontend.frozen is False and changed
    else:  # frozen: weights and BatchNorm statistics untouched
        assert model.frontend.frozen is True and not changed
