"""``tools/analysis/plot_similarity.py`` and the curves behind it
(``prvr_mm.evaluation.similarity_curves``)."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from prvr_mm.evaluation import PRVRMetric
from prvr_mm.evaluation.similarity_curves import (clip_cosines, clip_edges,
                                                  encode_split, query_curves)
from prvr_mm.models import masked_clip_scores

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')
QUERY = 'toy_test_00003#enc#0'


def test_clip_edges_and_cosines():
    edges, unit = clip_edges(4, 10.0)
    assert unit == 's' and np.allclose(edges, [0, 2.5, 5, 7.5, 10])
    edges, unit = clip_edges(3)
    assert unit == 'clip' and np.array_equal(edges, [0, 1, 2, 3])
    clips = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert np.allclose(clip_cosines(torch.tensor([2.0, 0.0]), clips),
                       [1, 0, -1])


@pytest.fixture(scope='module')
def setup(tiny_toy_root, tmp_path_factory):
    """Random tiny model saved as a checkpoint + config with the toy root."""
    from mmengine.config import Config
    from mmengine.runner.checkpoint import save_checkpoint

    from mmaction.registry import MODELS
    work = str(tmp_path_factory.mktemp('plot'))
    cfg = Config.fromfile(CFG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = osp.join(work, 'random.pth')
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return work, ckpt, cfg


def build(cfg, ckpt, root, split):
    from mmengine.runner import load_checkpoint

    from mmaction.registry import DATASETS, MODELS
    loader = cfg[f'{split}_dataloader']
    dataset = DATASETS.build(dict(loader.dataset, data_root=root))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, ckpt, map_location='cpu')
    return model.eval(), dataset


def test_curves_match_model_scores(setup, tiny_toy_root, tmp_path):
    _, ckpt, cfg = setup
    model, dataset = build(cfg, ckpt, tiny_toy_root, 'test')
    encoded = encode_split(model, dataset, batch_size=5)
    assert [e['video_id'] for e in encoded] == [
        dataset.get_data_info(i)['video_id'] for i in range(len(dataset))
    ]
    curves = query_curves(encoded, QUERY, topk=2, fusion_weight=0.7)
    panels = curves['panels']
    assert len(panels) == 3 and panels[0]['is_gt']
    assert panels[0]['video_id'] == curves['gt_video'] == 'toy_test_00003'
    assert not any(p['is_gt'] for p in panels[1:])
    assert [p['rank'] for p in panels[1:]] == sorted(
        p['rank'] for p in panels[1:])
    assert not curves['has_teacher']  # the toy test split has no teacher
    assert curves['timestamps'] is not None

    # the model's own scores of every (query, video) pair, from one batch
    gt_index = [e['video_id'] for e in encoded].index('toy_test_00003')
    q_in = dataset.get_data_info(gt_index)['query_ids'].index(QUERY)
    from mmengine.dataset import pseudo_collate
    items = [dataset[i] for i in range(len(dataset))]
    data = model.data_preprocessor(pseudo_collate(items), False)
    with torch.no_grad():
        enc = model.encode(data['inputs'])
    row = int(torch.nonzero(data['inputs']['query_to_video'] ==
                            gt_index)[q_in])
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
            assert curve.max() == pytest.approx(float(best[row, v]),
                                                abs=1e-5)
            assert np.allclose(curve, per_clip[row, :num_clips, v].numpy(),
                               atol=1e-5)
            assert panel['scores'][name] == pytest.approx(curve.max(),
                                                          abs=1e-6)
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
    curves = query_curves(encoded, query, topk=1)
    assert curves['has_teacher']
    for panel in curves['panels']:
        v = [e['video_id'] for e in encoded].index(panel['video_id'])
        teacher = encoded[v]['teacher_clips']
        t_query = encoded[2]['teacher_queries'][0]
        expect = torch.nn.functional.cosine_similarity(
            teacher, t_query[None], dim=-1).numpy()
        assert np.allclose(panel['curves']['teacher'], expect, atol=1e-5)
        assert len(panel['teacher_edges']) == len(teacher) + 1


def test_plot_tool_writes_png(setup, tiny_toy_root):
    work, ckpt, _ = setup
    out = osp.join(work, 'figs', 'sim.png')
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', 'analysis', 'plot_similarity.py'), CFG,
         ckpt, '--query', QUERY, '--topk', '2', '--out', out,
         '--cfg-options', f'data_root={tiny_toy_root}'],
        cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'GT rank' in proc.stdout
    with open(out, 'rb') as f:
        head = f.read(8)
    assert head == b'\x89PNG\r\n\x1a\n'
    assert osp.getsize(out) > 30_000
    import matplotlib.image as mpimg
    image = mpimg.imread(out)
    assert image.shape[0] > 600 and image.shape[1] > 800  # 3 panels
    assert image[..., :3].std() > 0.05  # not blank
