"""``prvr_mm.apis.analysis`` and ``init_model``: encoding a split with a
model, the similarity curves of one query, the fusion weight of a
config."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from prvr_mm.apis import clip_cosines, encode_split, init_model, query_curves
from prvr_mm.errors import PRVRConfigError
from prvr_mm.evaluation import PRVRMetric
from prvr_mm.models import masked_clip_scores
from tests.helpers.tools import ROOT, TINY_TOY_CFG, save_random_checkpoint

QUERY = 'toy_test_00003#enc#0'
WEIGHTS = {'inher': 0.7, 'explore': 1 - 0.7}


def test_clip_cosines():
    clips = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert np.allclose(
        clip_cosines(torch.tensor([2.0, 0.0]), clips), [1, 0, -1])


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Random tiny model saved as a checkpoint + the tiny toy config."""
    work = str(tmp_path_factory.mktemp('apis'))
    ckpt = save_random_checkpoint(osp.join(work, 'random.pth'))
    return work, ckpt, Config.fromfile(TINY_TOY_CFG)


def build(cfg, ckpt, root, split):
    from mmaction.registry import DATASETS
    loader = cfg[f'{split}_dataloader']
    dataset = DATASETS.build(dict(loader.dataset, data_root=root))
    return init_model(cfg, ckpt), dataset


def test_curves_match_model_scores(setup, tiny_toy_root, tmp_path):
    _, ckpt, cfg = setup
    model, dataset = build(cfg, ckpt, tiny_toy_root, 'test')
    encoded = encode_split(model, dataset, batch_size=5)
    assert [e['video_id'] for e in encoded] == [
        dataset.get_data_info(i)['video_id'] for i in range(len(dataset))
    ]
    curves = query_curves(encoded, QUERY, WEIGHTS, topk=2)
    panels = curves['panels']
    assert len(panels) == 3 and panels[0]['is_gt']
    assert panels[0]['video_id'] == curves['gt_video'] == 'toy_test_00003'
    assert not any(p['is_gt'] for p in panels[1:])
    assert [p['rank'] for p in panels[1:]] == sorted(p['rank']
                                                     for p in panels[1:])
    # the toy's evaluation splits read the teacher files (zero-shot row)
    assert curves['has_teacher']
    assert curves['timestamps'] is not None

    # the model's own scores of every (query, video) pair, from one batch
    gt_index = [e['video_id'] for e in encoded].index('toy_test_00003')
    q_in = dataset.get_data_info(gt_index)['query_ids'].index(QUERY)
    from mmengine.dataset import pseudo_collate
    items = [dataset[i] for i in range(len(dataset))]
    data = model.data_preprocessor(pseudo_collate(items), False)
    with torch.no_grad():
        enc = model.encode(data['inputs'])
    row = int(
        torch.nonzero(data['inputs']['query_to_video'] == gt_index)[q_in])
    mask = data['inputs']['video_mask']
    ids = [e['video_id'] for e in encoded]
    for panel in panels:
        v = ids.index(panel['video_id'])
        num_clips = int(mask[v].sum())
        assert len(panel['edges']) == num_clips + 1 and panel['unit'] == 's'
        assert panel['edges'][-1] == pytest.approx(panel['duration'])
        for name in ('inher', 'explore'):
            best, per_clip = masked_clip_scores(enc[name]['query'],
                                                enc[name]['clips'], mask)
            curve = panel['curves'][name]
            assert curve.shape == (num_clips, )
            assert curve.max() == pytest.approx(float(best[row, v]), abs=1e-5)
            assert np.allclose(
                curve, per_clip[row, :num_clips, v].numpy(), atol=1e-5)
            assert panel['scores'][name] == pytest.approx(
                curve.max(), abs=1e-6)
        fused = 0.7 * panel['curves']['inher'] + \
            0.3 * panel['curves']['explore']
        assert np.allclose(panel['curves']['fused'], fused)
        assert panel['best_clip'] == int(np.argmax(fused))

    # same ranks and moment hints as the metric's dump on the same results
    path = str(tmp_path / 'r.json')
    metric = PRVRMetric(fusion_weight=0.7, dump_rankings=path, dump_topk=3)
    metric.process({}, encoded)
    metric.evaluate(size=len(encoded))
    with open(path) as f:
        entry = {q['query_id']: q for q in json.load(f)['queries']}[QUERY]
    assert entry['gt_rank'] == curves['gt_rank'] == panels[0]['rank']
    assert entry['gt_clip'] == panels[0]['best_clip']
    top = [i for i in entry['results'] if i['video_id'] != 'toy_test_00003']
    for item, panel in zip(top, panels[1:]):
        assert item['video_id'] == panel['video_id']
        assert item['clip'] == panel['best_clip']
        assert item['score'] == pytest.approx(panel['score'], abs=1e-6)


def test_teacher_curve_on_train_split(setup, tiny_toy_root):
    _, ckpt, cfg = setup
    model, dataset = build(cfg, ckpt, tiny_toy_root, 'train')
    encoded = encode_split(model, dataset, indices=range(6))
    query = encoded[2]['query_ids'][0]
    curves = query_curves(encoded, query, WEIGHTS, topk=1)
    assert curves['has_teacher']
    for panel in curves['panels']:
        v = [e['video_id'] for e in encoded].index(panel['video_id'])
        teacher = encoded[v]['teacher_clips']
        t_query = encoded[2]['teacher_queries'][0]
        expect = torch.nn.functional.cosine_similarity(
            teacher, t_query[None], dim=-1).numpy()
        assert np.allclose(panel['curves']['teacher'], expect, atol=1e-5)
        assert len(panel['teacher_edges']) == len(teacher) + 1


def test_fusion_weight_is_the_test_evaluators():
    cfg = Config.fromfile(TINY_TOY_CFG)

    def weight_of(cfg):
        return PRVRMetric.from_config(cfg).fusion_weights['inher']

    assert weight_of(cfg) == 0.7
    cfg.test_evaluator = dict(type='PRVRMetric', fusion_weight=0.25)
    assert weight_of(cfg) == 0.25
    cfg.test_evaluator = [dict(type='Other'), dict(type='mmaction.PRVRMetric')]
    assert weight_of(cfg) == 0.7  # PRVRMetric's default
    cfg.test_evaluator = dict(type='Other')
    with pytest.raises(PRVRConfigError, match='no PRVRMetric'):
        weight_of(cfg)
    dlkd = Config.fromfile(osp.join(ROOT, 'configs', 'dlkd_tvr.py'))
    assert weight_of(dlkd) == 0.7  # the recipe (configs/dlkd/README)
    assert 'fusion_weight' not in dlkd.model
