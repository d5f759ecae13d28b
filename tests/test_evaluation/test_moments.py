"""Moment hints (``prvr_mm.evaluation.moments``) and their metrics in
:class:`PRVRMetric`, against per-pair loops."""
import pytest
import torch
import torch.nn.functional as F

from prvr_mm.evaluation import PRVRMetric
from prvr_mm.evaluation.moments import (best_runs, moment_metrics,
                                        pair_clip_scores, temporal_iou,
                                        uniform_clip_spans)
from prvr_mm.evaluation.rankings import clip_span
from prvr_mm.evaluation.scoring import fuse


def flat(lengths, h=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    offsets = torch.cat(
        [torch.zeros(1, dtype=torch.long),
         torch.cumsum(lengths, 0)])
    return torch.randn(int(lengths.sum()), h, generator=g), offsets


def test_pair_clip_scores_matches_loop(monkeypatch):
    import prvr_mm.evaluation.moments as moments
    monkeypatch.setattr(moments, '_PAIR_BLOCK_NUMEL', 40)  # many blocks
    clips, offsets = flat([3, 1, 6, 2])
    queries = torch.randn(4, 5)
    videos = torch.tensor([[2, 0, -1], [1, 1, 3], [-1, -1, -1], [3, 2, 0]])
    out = pair_clip_scores(queries, clips, offsets, videos)
    assert out.shape == (4, 3, 6)
    for i in range(4):
        for j in range(3):
            v = int(videos[i, j])
            if v < 0:
                assert torch.isinf(out[i, j]).all()
                continue
            block = clips[offsets[v]:offsets[v + 1]]
            ref = F.normalize(block, dim=-1) @ F.normalize(queries[i], dim=0)
            t = len(block)
            assert torch.allclose(out[i, j, :t], ref, atol=1e-6)
            assert torch.isinf(out[i, j, t:]).all()
    # float16 storage gives the up-cast values
    half = pair_clip_scores(queries, clips.half(), offsets, videos)
    assert torch.allclose(
        half[torch.isfinite(half)], out[torch.isfinite(out)], atol=2e-3)
    with pytest.raises(ValueError, match='hidden size'):
        pair_clip_scores(torch.randn(4, 3), clips, offsets, videos)


def test_best_runs_rule():
    inf = float('-inf')
    curves = torch.tensor([
        [0.1, 0.8, 0.7, 0.2, 0.75, inf],  # mean .51, thr .655 -> [1, 2]
        [0.5, 0.5, 0.5, inf, inf, inf],  # flat: the whole video
        [0.9, 0.0, 0.0, 0.0, 0.0, 0.0],  # best at the border
        [inf] * 6,  # no clip
    ])
    best, start, end = best_runs(curves, 0.5)
    assert best.tolist() == [1, 0, 0, 0]
    assert start.tolist() == [1, 0, 0, 0]
    assert end.tolist() == [2, 2, 0, 0]
    best0, start0, end0 = best_runs(curves[:1], 0.0)
    assert (start0.item(), end0.item()) == (1, 1)
    _, start1, end1 = best_runs(curves[:1], 1.0)  # down to the mean
    assert (start1.item(), end1.item()) == (1, 2)
    with pytest.raises(ValueError, match='ratio'):
        best_runs(curves, 1.5)


def test_best_runs_matches_loop():
    g = torch.Generator().manual_seed(3)
    curves = torch.randn(50, 9, generator=g)
    lengths = torch.randint(1, 10, (50, ), generator=g)
    curves[torch.arange(9)[None] >= lengths[:, None]] = float('-inf')
    best, start, end = best_runs(curves, 0.4)
    for i in range(50):
        c = curves[i, :lengths[i]].tolist()
        b = max(range(len(c)), key=lambda t: (c[t], -t))
        thr = c[b] - 0.4 * (c[b] - sum(c) / len(c))
        s = b
        while s > 0 and c[s - 1] >= thr:
            s -= 1
        e = b
        while e + 1 < len(c) and c[e + 1] >= thr:
            e += 1
        assert (best[i].item(), start[i].item(), end[i].item()) == (b, s, e)


def test_uniform_spans_match_rankings():
    spans = uniform_clip_spans(
        torch.tensor([4, 3, 7]),
        torch.tensor([10.0, float('nan'), 3.3], dtype=torch.float64))
    ref = [clip_span(i, 4, 10.0)[0] for i in range(4)]
    ref += [clip_span(i, 3, None)[0] for i in range(3)]
    ref += [clip_span(i, 7, 3.3)[0] for i in range(7)]
    assert spans.tolist() == ref  # bit-identical to the dump's spans


def test_temporal_iou():
    pred = torch.tensor([[0.0, 2.0], [1.0, 3.0], [5.0, 6.0], [2.0, 2.0]])
    gt = torch.tensor([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0], [2.0, 2.0]])
    assert temporal_iou(pred,
                        gt).tolist() == pytest.approx([1 / 3, 1.0, 0.0, 0.0])


def _results(seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for v, (n, t) in enumerate([(2, 6), (1, 3), (3, 8)]):
        r = dict(
            video_id=f'v{v}',
            query_ids=[f'v{v}#enc#{k}' for k in range(n)],
            duration=1.5 * t,
            timestamps=[[1.5 * k, 1.5 * k + 3.0] for k in range(n)])
        for b in ('inher', 'explore'):
            r[f'{b}_clips'] = torch.randn(t, 4, generator=g)
            r[f'{b}_queries'] = torch.randn(n, 4, generator=g)
        out.append(r)
    return out


def test_metric_reports_moments_like_a_loop():
    results = _results()
    metric = PRVRMetric(fusion_weight=0.6, moment_run_ratio=0.3)
    metric.process({}, results)
    metrics = metric.evaluate(size=len(results))
    w = {'inher': 0.6, 'explore': 0.4}
    for name in ('fused', 'inher', 'explore'):
        hits, ious, clip_hits = [], [], []
        for r in results:
            t = len(r['inher_clips'])
            for k in range(len(r['query_ids'])):
                cos = {
                    b:
                    F.normalize(r[f'{b}_clips'], dim=-1) @ F.normalize(
                        r[f'{b}_queries'][k], dim=0)
                    for b in w
                }
                curve = sum(w[b] * cos[b] for b in w) if name == 'fused' \
                    else cos[name]
                best, start, end = best_runs(curve[None], 0.3)
                d = r['duration']
                span = torch.tensor(
                    [[d * start.item() / t, d * (end.item() + 1) / t]],
                    dtype=torch.float64)
                clip = torch.tensor(
                    [[d * best.item() / t, d * (best.item() + 1) / t]],
                    dtype=torch.float64)
                gt = torch.tensor([r['timestamps'][k]], dtype=torch.float64)
                iou = temporal_iou(span, gt).item()
                hits.append(iou > 0)
                ious.append(iou)
                clip_hits.append(temporal_iou(clip, gt).item() > 0)
        prefix = 'prvr/' if name == 'fused' else f'prvr/{name}/'
        assert metrics[f'{prefix}moment/hit'] == pytest.approx(
            sum(hits) / len(hits))
        assert metrics[f'{prefix}moment/mIoU'] == pytest.approx(
            sum(ious) / len(ious))
        assert metrics[f'{prefix}moment/clip_hit'] == pytest.approx(
            sum(clip_hits) / len(clip_hits))


def test_metric_without_annotations_has_no_moment_keys():
    results = _results()
    del results[1]['timestamps']
    metric = PRVRMetric()
    metric.process({}, results)
    metrics = metric.evaluate(size=len(results))
    assert not [k for k in metrics if 'moment' in k]
    assert 'prvr/R@1' in metrics
    with pytest.raises(ValueError, match='moment_run_ratio'):
        PRVRMetric(moment_run_ratio=-0.1)


def test_moment_metrics_perfect_hint():
    # the query equals clip 2 of a 4-clip video whose moment is clip 2
    clips = torch.eye(4)
    out = moment_metrics(
        queries={'inher': clips[2:3]},
        clips={'inher': clips},
        offsets=torch.tensor([0, 4]),
        gt_videos=torch.tensor([0]),
        durations=torch.tensor([8.0]),
        timestamps=torch.tensor([[4.0, 6.0]]),
        weights={'inher': 1.0},
        ratio=0.0)
    assert out == {
        'inher': dict(hit=1.0, mIoU=1.0, clip_hit=1.0, clip_mIoU=1.0)
    }
    fused = fuse(
        {
            'a': torch.tensor([[1.0, float('-inf')]]),
            'b': torch.tensor([[0.0, float('-inf')]])
        }, {
            'a': 0.5,
            'b': 0.5
        })
    assert fused[0, 0] == 0.5 and torch.isinf(fused[0, 1])
