"""``PRVRMetric(dump_rankings=...)``: per-query top-k rankings with moment
hints (``prvr_mm.evaluation.rankings``, format in docs/rankings.md)."""
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prvr_mm.evaluation import PRVRMetric, gt_ranks
from prvr_mm.evaluation.rankings import clip_edges, clip_span


def make_results(seed=0,
                 counts=(3, 1, 2, 4, 2),
                 lengths=(5, 2, 7, 3, 4),
                 h=6,
                 durations=(10.0, None, 7.0, 4.5, None)):
    g = torch.Generator().manual_seed(seed)
    results = []
    for i, (n, t, d) in enumerate(zip(counts, lengths, durations)):
        sample = dict(
            video_id=f'v{i}', query_ids=[f'v{i}#enc#{k}' for k in range(n)])
        if d is not None:
            sample['duration'] = d
            sample['timestamps'] = [[0.5 * k, 0.5 * k + 1.0] for k in range(n)]
        for b in ('inher', 'explore'):
            sample[f'{b}_clips'] = torch.randn(t, h, generator=g)
            sample[f'{b}_queries'] = torch.randn(n, h, generator=g)
        results.append(sample)
    return results


def brute_force(results, w, branches=('inher', 'explore')):
    """Dense (Q, V) scores and (Q, V) best clip per pair, pair by pair."""
    queries = {
        b: torch.cat([r[f'{b}_queries'] for r in results])
        for b in branches
    }
    weights = {branches[0]: w, branches[1]: 1 - w} if len(branches) == 2 \
        else {branches[0]: 1.0}
    num_q = len(queries[branches[0]])
    scores = {b: torch.empty(num_q, len(results)) for b in branches}
    best = torch.empty(num_q, len(results), dtype=torch.long)
    for q in range(num_q):
        for v, r in enumerate(results):
            fused = 0
            for b in branches:
                cos = F.normalize(
                    r[f'{b}_clips'], dim=-1) @ F.normalize(
                        queries[b][q], dim=-1)
                scores[b][q, v] = cos.max()
                fused = fused + weights[b] * cos
            best[q, v] = int(fused.argmax())
    if len(branches) == 2:
        scores['fused'] = w * scores[branches[0]] + \
            (1 - w) * scores[branches[1]]
    return scores, best


def test_clip_span():
    assert clip_span(0, 4, 10.0) == ([0.0, 2.5], 's')
    assert clip_span(3, 4, 10.0) == ([7.5, 10.0], 's')
    assert clip_span(2, 7, 3.3)[0][1] <= 3.3
    assert clip_span(6, 7, 3.3)[0][1] == 3.3  # exactly the duration
    assert clip_span(2, 5, None) == ([2.0, 3.0], 'clip')


def test_clip_edges_follow_clip_span():
    edges, unit = clip_edges(4, 10.0)
    assert unit == 's' and np.allclose(edges, [0, 2.5, 5, 7.5, 10])
    edges, unit = clip_edges(3)
    assert unit == 'clip' and np.array_equal(edges, [0, 1, 2, 3])
    edges, _ = clip_edges(7, 3.3)
    for i in range(7):  # one rule for the dump and the plots
        assert [edges[i], edges[i + 1]] == clip_span(i, 7, 3.3)[0]


@pytest.mark.parametrize('topk', [3, 100])
def test_dump_matches_brute_force(tmp_path, topk):
    results = make_results()
    path = str(tmp_path / 'sub' / 'rankings.json')
    # query_chunk=2: several query chunks
    metric = PRVRMetric(
        fusion_weight=0.6,
        query_chunk=2,
        video_chunk=2,
        dump_rankings=path,
        dump_topk=topk)
    metric.process({}, results[:2])
    metric.process({}, results[2:])
    metrics = metric.evaluate(size=len(results))
    with open(path) as f:
        dump = json.load(f)

    scores, best = brute_force(results, 0.6)
    gt = torch.tensor(
        [v for v, r in enumerate(results) for _ in r['query_ids']])
    ranks = gt_ranks(scores['fused'], gt[:, None])[:, 0]
    k = min(topk, len(results))
    assert dump['version'] == 1 and dump['fusion_weight'] == 0.6
    assert dump['branches'] == ['inher', 'explore']
    assert dump['score'] == 'fused' and dump['topk'] == k
    assert dump['num_queries'] == len(gt) == len(dump['queries'])
    assert dump['num_videos'] == len(results)
    query_ids = [q for r in results for q in r['query_ids']]
    assert [q['query_id'] for q in dump['queries']] == query_ids
    for q, entry in enumerate(dump['queries']):
        v_gt = int(gt[q])
        r_gt = results[v_gt]
        assert entry['gt_video'] == f'v{v_gt}'
        assert entry['gt_rank'] == int(ranks[q])
        assert entry['gt_score'] == pytest.approx(
            float(scores['fused'][q, v_gt]), abs=1e-6)
        assert entry['gt_clip'] == int(best[q, v_gt])
        expect = clip_span(
            int(best[q, v_gt]), len(r_gt['inher_clips']), r_gt.get('duration'))
        assert (entry['gt_span'], entry['gt_unit']) == expect
        if 'timestamps' in r_gt:
            k_in = r_gt['query_ids'].index(entry['query_id'])
            assert entry['gt_timestamps'] == r_gt['timestamps'][k_in]
        else:
            assert 'gt_timestamps' not in entry
        order = torch.argsort(scores['fused'][q], descending=True)[:k]
        got = [item['video_id'] for item in entry['results']]
        assert got == [f'v{int(v)}' for v in order]
        values = [item['score'] for item in entry['results']]
        assert values == sorted(values, reverse=True)
        for item in entry['results']:
            v = int(item['video_id'][1:])
            for b in ('fused', 'inher', 'explore'):
                key = 'score' if b == 'fused' else f'{b}_score'
                assert item[key] == pytest.approx(
                    float(scores[b][q, v]), abs=1e-6)
            assert item['clip'] == int(best[q, v])
            span, unit = clip_span(item['clip'],
                                   len(results[v]['inher_clips']),
                                   results[v].get('duration'))
            assert item['span'] == span and item['unit'] == unit
            assert unit == ('s' if 'duration' in results[v] else 'clip')
    # the metrics themselves are unchanged by the dump
    plain = PRVRMetric(fusion_weight=0.6)
    plain.process({}, results)
    assert plain.evaluate(size=len(results)) == metrics


def test_dump_single_branch(tmp_path):
    results = make_results(seed=1)
    for r in results:
        del r['explore_clips'], r['explore_queries']
    path = str(tmp_path / 'r.json')
    metric = PRVRMetric(branches=('inher', ), dump_rankings=path, dump_topk=2)
    metric.process({}, results)
    metric.evaluate(size=len(results))
    with open(path) as f:
        dump = json.load(f)
    scores, best = brute_force(results, 1.0, branches=('inher', ))
    assert dump['score'] == 'inher' and dump['branches'] == ['inher']
    for q, entry in enumerate(dump['queries']):
        for item in entry['results']:
            v = int(item['video_id'][1:])
            assert item['score'] == item['inher_score']
            assert item['score'] == pytest.approx(
                float(scores['inher'][q, v]), abs=1e-6)
            assert item['clip'] == int(best[q, v])
            assert 'explore_score' not in item


def test_no_dump_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metric = PRVRMetric()
    metric.process({}, make_results())
    metric.evaluate(size=5)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match='dump_topk'):
        PRVRMetric(dump_rankings='x.json', dump_topk=0)
