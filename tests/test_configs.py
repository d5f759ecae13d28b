"""The config tree: mmaction2 names, metafiles, aliases, one owner a value."""
import glob
import os.path as osp
import re

import pytest
import torch
import yaml
from mmengine.config import Config

from tests.helpers.tools import ROOT

CONFIGS = osp.join(ROOT, 'configs')
FOLDERS = ('dlkd', 'dlkdpp', 'toy')
# {algorithm}_{feature}_{NxB}[-...]-{N}e[-...]_{dataset}.py
NAME = re.compile(r'^[a-z0-9-]+_[a-z0-9-]+_\d+xb\d+(-[a-z0-9]+)*_[a-z0-9-]+$')
ALIASES = {
    'dlkd_tvr': 'dlkd/dlkd_i3d-resnet-roberta_1xb128-100e_tvr',
    'dlkd_activitynet': 'dlkd/dlkd_i3d-roberta_1xb128-100e_activitynet',
    'dlkdpp_tvr': 'dlkdpp/dlkdpp_i3d-resnet-roberta_1xb128-120e_tvr',
    'dlkdpp_activitynet': 'dlkdpp/dlkdpp_i3d-roberta_1xb128-120e_activitynet',
    'dlkdpp_charades':
    'dlkdpp/dlkdpp_i3d-rgb-lgi-roberta_1xb128-120e_charades',
    'dlkd_toy': 'toy/dlkd_toy-feats_1xb32-20e_toy',
    'dlkd_toy_nokd': 'toy/dlkd_toy-feats_1xb32-nokd-20e_toy',
}


@pytest.mark.parametrize('folder', FOLDERS)
def test_folder_configs_are_named_and_listed(folder):
    files = sorted(glob.glob(osp.join(CONFIGS, folder, '*.py')))
    assert files
    with open(osp.join(CONFIGS, folder, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    listed = {m['Config'] for m in meta['Models']}
    names = {c['Name'] for c in meta['Collections']}
    assert osp.isfile(osp.join(CONFIGS, folder, 'README.md'))
    for path in files:
        name = osp.splitext(osp.basename(path))[0]
        assert NAME.match(name), name
        assert f'configs/{folder}/{name}.py' in listed
    for model in meta['Models']:
        assert osp.isfile(osp.join(ROOT, model['Config']))
        assert model['In Collection'] in names
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]


@pytest.mark.parametrize('alias', sorted(ALIASES))
def test_aliases_are_the_named_configs(alias):
    with open(osp.join(CONFIGS, f'{alias}.py')) as f:
        assert f.read() == f"_base_ = ['./{ALIASES[alias]}.py']\n"
    cfg = Config.fromfile(osp.join(CONFIGS, f'{alias}.py'))
    # one owner per value: the data gives the dimensions, the evaluator the
    # fusion weight, the hook the schedule values
    data = cfg.train_dataloader.dataset
    assert cfg.model.inheritance.video_dim == data.video_dim
    assert cfg.model.inheritance.query_dim == data.text_dim
    assert cfg.model.teacher.feature_dim == data.teacher_dim
    assert cfg.model.inheritance.max_ctx_l == cfg.max_ctx_l
    for key in ('fusion_weight', 'kd_weight', 'alpha', 'beta'):
        assert key not in cfg.model
    # DL-DKD also reports the 0.5 / 0.5 fusion of the authors' 544b2db
    assert cfg.test_evaluator.fusion_weight == 0.7
    assert tuple(cfg.test_evaluator.get('extra_fusion_weights', ())) == ((
        0.5, ) if alias.startswith('dlkd_') and 'toy' not in alias else ())
    hooks = [h.type for h in cfg.custom_hooks]
    assert hooks == ['DynamicKDHook', 'ResumableEarlyStoppingHook']


def test_top_configs_do_not_retype_dimensions():
    for folder in FOLDERS:
        for path in glob.glob(osp.join(CONFIGS, folder, '*.py')):
            with open(path) as f:
                text = f.read()
            assert not re.search(r'(video|query)_dim\s*=', text), path


# ----------------------------------------------------------------- recipe
PAPER = ('dlkd_tvr', 'dlkd_activitynet', 'dlkdpp_tvr', 'dlkdpp_activitynet',
         'dlkdpp_charades')
LR = dict(dlkdpp_tvr=3e-4, dlkdpp_charades=2.4e-4)


def _adamw_variant(alias):
    path = osp.join(CONFIGS, f'{ALIASES[alias]}.py')
    return path.replace('_1xb128-', '_1xb128-adamw-')


@pytest.mark.parametrize('variant', ['paper', 'adamw'])
@pytest.mark.parametrize('alias', PAPER)
def test_paper_recipe_built_by_the_runner(alias, variant, tmp_path):
    """The optimiser and scheduler that the Runner builds from each paper
    config (and its AdamW variant), shortened to 10 epochs the CLI way,
    without data: 7 iterations per epoch, lr 0 at the first one, the peak
    after 1 % of them, linear decay to 0 at the end of the 10 epochs."""
    from mmengine.runner import Runner
    from torch.nn import LayerNorm
    from torch.utils.data import DataLoader

    from prvr_mm.engine import BertAdam, WarmupLinearLR
    path = osp.join(CONFIGS, f'{alias}.py') if variant == 'paper' else \
        _adamw_variant(alias)
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({'train_cfg.max_epochs': 10})  # --cfg-options
    runner = Runner(
        model=cfg.model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(list(range(7)), batch_size=1),
        train_cfg=cfg.train_cfg,
        optim_wrapper=cfg.optim_wrapper,
        param_scheduler=cfg.param_scheduler,
        default_scope=cfg.default_scope,
        experiment_name=f'recipe_{alias}_{variant}',
        log_level='WARNING')
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.optim_wrapper = wrapper
    (scheduler, ) = runner.build_param_scheduler(runner.param_schedulers)

    optimizer = wrapper.optimizer
    expected_type = BertAdam if variant == 'paper' else torch.optim.AdamW
    assert type(optimizer) is expected_type
    if variant == 'adamw':
        assert optimizer.defaults['eps'] == 1e-6
    # the authors' groups: decay 0.01 except biases and LayerNorms
    decay = {
        id(p): g['weight_decay']
        for g in optimizer.param_groups
        for p in g['params']
    }
    for name, module in runner.model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            no_decay = pname == 'bias' or isinstance(module, LayerNorm)
            assert decay[id(param)] == (0.0 if no_decay else 0.01), \
                f'{name}.{pname}'
    assert len(decay) == len(list(runner.model.parameters()))

    assert isinstance(scheduler, WarmupLinearLR)
    assert (scheduler.begin, scheduler.end) == (0, 70)
    peak = LR.get(alias, 2.5e-4)
    lrs = []
    for _ in range(70):
        lrs.append(wrapper.get_lr()['lr'][0])
        wrapper.step()  # no gradients: nothing moves
        scheduler.step()
    assert lrs[0] == 0.0
    assert lrs[1] == pytest.approx(peak * 69 / 69.3)  # warm-up: 0.7 iter
    assert lrs[-1] == pytest.approx(peak / 69.3)  # next: 0
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:]))


def write_clip_only_collection(root, collection, seed=0):
    """A CLIP-only collection (frame, token and sentence files with the
    layout's names, 512-d; no RoBERTa file, no BigFile), 3 videos a split.
    """
    import numpy as np

    from prvr_mm.datasets.layout import (collection_paths, teacher_text_key,
                                         write_captions, write_h5)
    rng = np.random.default_rng(seed)
    paths = collection_paths(root, collection, inputs='clip')
    frames, tokens, sentences = {}, {}, {}
    for split in ('train', 'val', 'test'):
        pairs = []
        for v in range(3):
            vid = f'{split}{v}'
            frames[vid] = rng.standard_normal((int(rng.integers(3, 7)), 512))
            for n in range(2):
                cap = f'{vid}#enc#{n}'
                pairs.append((cap, f'sentence {n} of {vid}'))
                tokens[cap] = rng.standard_normal((int(rng.integers(3,
                                                                    6)), 512))
                sentences[teacher_text_key(cap)] = tokens[cap][-1:]
        write_captions(paths[f'caption_{split}'], pairs)
    write_h5(paths['teacher_video'], frames)
    write_h5(paths['clip_tokens'], tokens)
    write_h5(paths['teacher_text'], sentences)
    return paths


@pytest.mark.parametrize('collection', ['tvr', 'activitynet', 'charades'])
def test_clip_only_configs_read_one_clip_model(collection, tmp_path):
    """Student video input = the CLIP frame file, query input = per-token
    CLIP features, both named by the layout from the collection's name: a
    user's own collection is `data_root=... collection=mine` away (a space
    in the path kept); the text encoder is the same open_clip model."""
    import argparse

    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope

    from prvr_mm.datasets.layout import collection_paths
    from prvr_mm.utils import merge_config_options
    from prvr_mm.utils.cfg_options import CfgOptionsAction
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'dlkd',
                 f'dlkd_clip-vit-b32_1xb128-100e_{collection}.py'))
    root = str(tmp_path / 'my data')
    paths = write_clip_only_collection(root, 'mine')
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    opts = parser.parse_args(
        ['--cfg-options', f'data_root={paths["dir"]}',
         'collection=mine']).cfg_options
    merge_config_options(cfg, opts, 'x.py', str(tmp_path / 'work'))
    init_default_scope('mmaction')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        data = cfg[loader].dataset
        assert data.inputs == 'clip' and data.collection == 'mine'
        assert data.video_dim == data.text_dim == 512
        dataset = DATASETS.build(data)
        assert len(dataset) == 3
        assert dataset.video_reader.path == paths['teacher_video']
        assert dataset.text_reader.path == paths['clip_tokens']
        # evaluation reads the CLIP sentences too (the zero-shot row)
        assert (dataset.teacher_text_reader is not None) == \
            (loader != 'train_dataloader' or data.with_teacher)
    item = dataset[0]
    assert item['inputs']['teacher_video'].shape == \
        item['inputs']['video'].shape
    # the published names are still the defaults
    assert collection_paths('r', collection, inputs='clip')['video'] \
        .endswith(f'new_clip_vit_32_{collection}_vid_features.hdf5')
    assert cfg.model.inheritance.video_dim == 512
    assert cfg.model.inheritance.query_dim == 512
    assert cfg.model.teacher.feature_dim == 512
    assert cfg.optim_wrapper.optimizer.type == 'BertAdam'
    assert cfg.val_evaluator.fusion_weight == 0.7
    assert cfg.text_encoder == dict(
        type='OpenCLIPTextEncoder', model_name='ViT-B-32', pretrained='openai')


def test_checker_knows_clip_only_collections(tmp_path):
    """check_dataset --inputs clip passes a CLIP-only collection; without
    it the checker asks for the RoBERTa file and the BigFile by name."""
    import subprocess
    import sys
    root = str(tmp_path / 'data')
    write_clip_only_collection(root, 'mine')
    tool = osp.join(ROOT, 'tools', 'data', 'check_dataset.py')
    env = dict(__import__('os').environ, PYTHONPATH=ROOT)
    ok = subprocess.run(
        [sys.executable, tool, root, 'mine', '--inputs', 'clip'],
        capture_output=True,
        text=True,
        env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert 'OK: no problem found' in ok.stdout
    assert 'clip_ViT_B_32_mine_token_feat.hdf5' in ok.stdout
    from prvr_mm.datasets.check import check_dataset
    report = check_dataset(
        root, 'mine', visual_feature='i3d', video_dim=0, query_dim=0)
    assert not report.ok
    assert any('roberta_mine_query_feat.hdf5' in p for p in report.problems)
    bad = check_dataset(root, 'mine', visual_feature='i3d', inputs='clip')
    assert not bad.ok and 'takes no visual_feature' in bad.problems[0]
