"""The config tree: mmaction2 names, metafiles, aliases, one owner a value."""
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config

from tests.helpers.tools import ROOT

CONFIGS = osp.join(ROOT, 'configs')
FOLDERS = ('dlkd', 'dlkdpp', 'toy')
# {algorithm}_{feature}_{NxB}[-...]-{N}e[-...]_{dataset}.py
NAME = re.compile(r'^[a-z0-9-]+_[a-z0-9-]+_\d+xb\d+(-[a-z0-9]+)*_[a-z0-9-]+$')
ALIASES = {
    'dlkd_tvr': 'dlkd/dlkd_i3d-resnet-roberta_1xb128-120e_tvr',
    'dlkd_activitynet': 'dlkd/dlkd_i3d-roberta_1xb128-120e_activitynet',
    'dlkdpp_tvr': 'dlkdpp/dlkdpp_i3d-resnet-roberta_1xb128-120e_tvr',
    'dlkdpp_activitynet': 'dlkdpp/dlkdpp_i3d-roberta_1xb128-120e_activitynet',
    'dlkdpp_charades':
    'dlkdpp/dlkdpp_i3d-rgb-lgi-roberta_1xb128-120e_charades',
    'dlkd_toy': 'toy/dlkd_toy-feats_1xb64-20e_toy',
    'dlkd_toy_nokd': 'toy/dlkd_toy-feats_1xb64-nokd-20e_toy',
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
    assert cfg.test_evaluator.fusion_weight == (0.5 if alias in (
        'dlkd_tvr', 'dlkd_activitynet') else 0.7)
    hooks = [h.type for h in cfg.custom_hooks]
    assert hooks == ['DynamicKDHook', 'EarlyStoppingHook']


def test_top_configs_do_not_retype_dimensions():
    for folder in FOLDERS:
        for path in glob.glob(osp.join(CONFIGS, folder, '*.py')):
            with open(path) as f:
                text = f.read()
            assert not re.search(r'(video|query)_dim\s*=', text), path


@pytest.mark.parametrize('collection', ['tvr', 'activitynet', 'charades'])
def test_clip_only_configs_read_one_clip_model(collection):
    """Student video input = the teacher's CLIP frame file, query input =
    per-token CLIP features (layout names), text encoder = the same
    open_clip model."""
    from prvr_mm.datasets.layout import collection_files
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'dlkd',
                 f'dlkd_clip-vit-b32_1xb128-120e_{collection}.py'))
    files = collection_files(collection)
    for loader in ('train_dataloader', 'test_dataloader'):
        data = cfg[loader].dataset
        assert osp.join('FeatureData', data.visual_feature) == \
            files['teacher_video']
        assert data.text_feature == files['clip_tokens']
        assert data.video_dim == data.text_dim == 512
    assert cfg.model.inheritance.video_dim == 512
    assert cfg.model.inheritance.query_dim == 512
    assert cfg.model.teacher.feature_dim == 512
    assert cfg.text_encoder == dict(
        type='OpenCLIPTextEncoder', model_name='ViT-B-32', pretrained='openai')
