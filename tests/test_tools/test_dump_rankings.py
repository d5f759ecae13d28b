"""``tools/test.py --dump``: per-query top-k rankings with moment hints
written by the real tool (format in docs/rankings.md)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from tests.helpers.tools import (TINY_TOY_CFG, run_tool,
                                 save_random_checkpoint, tool)


@pytest.fixture(scope='module')
def dumped(tiny_toy_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('dump'))
    ckpt = save_random_checkpoint(osp.join(work, 'random.pth'))
    run_tool(
        tool('test.py'),
        TINY_TOY_CFG,
        ckpt,
        '--work-dir',
        work,
        '--out',
        'metrics.json',
        '--dump',
        'out/rankings.json',
        '--dump-topk',
        '5',
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=work)
    with open(osp.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    with open(osp.join(work, 'out', 'rankings.json')) as f:
        dump = json.load(f)
    return metrics, dump


def test_tool_dump_covers_every_query(dumped, tiny_toy_root):
    _, dump = dumped
    with open(osp.join(tiny_toy_root, 'TextData', 'toytest.caption.txt')) as f:
        caps = [line.split(' ', 1)[0] for line in f if line.strip()]
    assert [q['query_id'] for q in dump['queries']] == caps
    assert dump['num_queries'] == len(caps) and dump['num_videos'] == 12
    assert dump['topk'] == 5 and dump['fusion_weight'] == 0.7
    for entry in dump['queries']:
        assert entry['gt_video'] == entry['query_id'].split('#')[0]
        items = entry['results']
        assert len(items) == 5
        assert len({i['video_id'] for i in items}) == 5
        scores = [i['score'] for i in items]
        assert scores == sorted(scores, reverse=True)
        for item in items:
            assert item['score'] == pytest.approx(
                0.7 * item['inher_score'] + 0.3 * item['explore_score'],
                abs=1e-6)
        ids = [i['video_id'] for i in items]
        if entry['gt_rank'] <= 5:
            pos = ids.index(entry['gt_video'])
            assert items[pos]['score'] == entry['gt_score']
            # no exact ties on real-valued scores: the position is the rank
            assert pos + 1 == entry['gt_rank']
        else:
            assert entry['gt_video'] not in ids
            assert entry['gt_score'] < scores[-1]


def test_tool_dump_gt_ranks_match_metrics(dumped):
    metrics, dump = dumped
    ranks = torch.tensor([q['gt_rank'] for q in dump['queries']],
                         dtype=torch.float64)
    n = len(ranks)
    for k in (1, 5, 10, 100):
        assert metrics[f'prvr/R@{k}'] == pytest.approx(
            100.0 * int((ranks <= k).sum()) / n, abs=1e-9)
    assert metrics['prvr/MedR'] == float(np.median(ranks.numpy()))
    assert metrics['prvr/MnR'] == pytest.approx(float(ranks.mean()))
    assert metrics['prvr/mAP'] == pytest.approx(float((1 / ranks).mean()))


def test_tool_dump_spans_in_seconds(dumped, tiny_toy_root):
    _, dump = dumped
    with open(osp.join(tiny_toy_root, 'TextData', 'toy_meta.json')) as f:
        meta = json.load(f)
    for entry in dump['queries']:
        assert entry['gt_timestamps'] == meta['queries'][
            entry['query_id']]['timestamps']
        pairs = [(entry['gt_video'], entry['gt_clip'], entry['gt_span'],
                  entry['gt_unit'])]
        pairs += [(i['video_id'], i['clip'], i['span'], i['unit'])
                  for i in entry['results']]
        for vid, clip, (start, end), unit in pairs:
            duration = meta['videos'][vid]['duration']
            assert unit == 's'
            assert 0.0 <= start < end <= duration
            # uniform clips: clip i covers [i, i + 1] * (end - start)
            assert start == pytest.approx(clip * (end - start))
