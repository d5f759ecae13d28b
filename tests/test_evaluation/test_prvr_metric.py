"""PRVRMetric: several queries per video, fused and per-branch results."""
import pytest
import torch

from prvr_mm.evaluation import PRVRMetric, retrieval_metrics
from prvr_mm.models import masked_clip_scores


def make_results(seed=0, counts=(3, 1, 2, 4), lengths=(5, 2, 7, 3), h=6):
    g = torch.Generator().manual_seed(seed)
    results = []
    for i, (n, t) in enumerate(zip(counts, lengths)):
        sample = dict(
            video_id=f'v{i}', query_ids=[f'v{i}#enc#{k}' for k in range(n)])
        for b in ('inher', 'explore'):
            sample[f'{b}_clips'] = torch.randn(t, h, generator=g)
            sample[f'{b}_queries'] = torch.randn(n, h, generator=g)
        results.append(sample)
    return results


def dense_scores(results, branch):
    clips = torch.nn.utils.rnn.pad_sequence(
        [r[f'{branch}_clips'] for r in results], batch_first=True)
    lengths = torch.tensor([len(r[f'{branch}_clips']) for r in results])
    mask = (torch.arange(clips.shape[1])[None] < lengths[:, None]).float()
    queries = torch.cat([r[f'{branch}_queries'] for r in results])
    return masked_clip_scores(queries, clips, mask)[0]


def test_metric_matches_direct_computation():
    results = make_results()
    metric = PRVRMetric(fusion_weight=0.7, query_chunk=3, video_chunk=2)
    metric.process({}, results[:2])
    metric.process({}, results[2:])
    out = metric.evaluate(size=4)
    gt = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])[:, None]
    inher, explore = dense_scores(results,
                                  'inher'), dense_scores(results, 'explore')
    fused = retrieval_metrics(0.7 * inher + 0.3 * explore, gt)
    for key, value in fused.items():
        assert out[f'prvr/{key}'] == pytest.approx(value), key
    for key, value in retrieval_metrics(explore, gt).items():
        assert out[f'prvr/explore/{key}'] == pytest.approx(value), key
    assert out['prvr/SumR'] == pytest.approx(
        sum(out[f'prvr/R@{k}'] for k in (1, 5, 10, 100)))


def test_perfect_embeddings_rank_first():
    results = make_results(counts=(2, 2, 2), lengths=(3, 3, 3))
    for i, r in enumerate(results):
        for b in ('inher', 'explore'):
            r[f'{b}_clips'] = torch.zeros(3, 6)
            r[f'{b}_clips'][1, i] = 1.0
            r[f'{b}_queries'] = torch.zeros(2, 6)
            r[f'{b}_queries'][:, i] = 1.0
    metric = PRVRMetric()
    metric.process({}, results)
    out = metric.evaluate(size=3)
    assert out['prvr/R@1'] == 100.0 and out['prvr/MedR'] == 1.0
    assert out['prvr/mAP'] == pytest.approx(1.0)


def test_metric_rejects_bad_fusion_weight():
    with pytest.raises(ValueError, match='fusion_weight'):
        PRVRMetric(fusion_weight=-0.1)


def test_extra_fusion_weights_are_reported_too():
    """DL-DKD configs rank with one weight and also report the other
    published convention (prvr/fused@0.5/...) from the same evaluation."""
    results = make_results(seed=3)
    metric = PRVRMetric(fusion_weight=0.7, extra_fusion_weights=(0.5, 0.3))
    metric.process({}, results)
    out = metric.evaluate(size=len(results))
    gt = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])[:, None]
    inher, explore = dense_scores(results,
                                  'inher'), dense_scores(results, 'explore')
    for w in (0.5, 0.3):
        expected = retrieval_metrics(w * inher + (1 - w) * explore, gt)
        for key, value in expected.items():
            assert out[f'prvr/fused@{w:g}/{key}'] == pytest.approx(value)
    main = retrieval_metrics(0.7 * inher + 0.3 * explore, gt)
    assert out['prvr/SumR'] == pytest.approx(main['SumR'])
    with pytest.raises(ValueError, match='extra_fusion_weights'):
        PRVRMetric(extra_fusion_weights=(1.5, ))


def test_clip_zeroshot_row_is_reported_and_never_fused():
    """Samples carrying the teacher's CLIP features (clip_zeroshot_*) get
    one more row, prvr/clip_zeroshot/...: CLIP's own ranking (here built
    perfect), while the fused / branch metrics stay exactly those of the
    same samples without it."""
    results = make_results(counts=(2, 1, 3), lengths=(4, 3, 5))
    plain = PRVRMetric(fusion_weight=0.7)
    plain.process({}, [dict(r) for r in results])
    expected = plain.evaluate(size=3)
    for i, r in enumerate(results):
        # teacher frames of another count than the student clips
        r['clip_zeroshot_clips'] = torch.zeros(2 + i, 8)
        r['clip_zeroshot_clips'][-1, i] = 1.0
        r['clip_zeroshot_queries'] = torch.zeros(len(r['query_ids']), 8)
        r['clip_zeroshot_queries'][:, i] = 1.0
    metric = PRVRMetric(fusion_weight=0.7)
    metric.process({}, results)
    out = metric.evaluate(size=3)
    assert out['prvr/clip_zeroshot/R@1'] == 100.0
    assert out['prvr/clip_zeroshot/SumR'] == 400.0
    assert {
        k: v
        for k, v in out.items() if 'clip_zeroshot' not in k
    } == expected
    assert expected['prvr/SumR'] < 400.0  # random students: a real gap
