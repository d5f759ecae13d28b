"""Tests of the chunked scoring (``prvr_mm.evaluation.scoring``) and the
ranking metrics of ``prvr_mm.evaluation.functional`` (golden values from
the authors' code)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.reference_metrics import baseline_retrieval_metrics
from prvr_mm.evaluation.functional import (gt_ranks, random_ranking_sumr,
                                           retrieval_metrics)
from prvr_mm.evaluation.scoring import fuse, fusion_weights, max_over_clips

GOLDEN = Path(__file__).parents[1] / 'data' / 'dldkd_golden'
# golden json key -> our key
KEY_MAP = {
    'r1': 'R@1',
    'r5': 'R@5',
    'r10': 'R@10',
    'r100': 'R@100',
    'medr': 'MedR',
    'meanr': 'MnR',
    'mAP': 'mAP',
    'SumR': 'SumR',
}
METRIC_KEYS = ['R@1', 'R@5', 'R@10', 'R@100', 'SumR', 'MedR', 'MnR', 'mAP']


def _check_golden(ours: dict, golden: dict, atol: float = 1e-9) -> None:
    assert set(METRIC_KEYS) <= set(ours)
    for gkey, value in golden.items():
        assert ours[KEY_MAP[gkey]] == pytest.approx(value, abs=atol), gkey


def _dense_max_scores(queries, clips, mask, normalize=True):
    """Direct (Q, V, L) reference of max_over_clips."""
    queries, clips = queries.double(), clips.double()
    if normalize:
        queries = torch.nn.functional.normalize(queries, dim=-1, eps=1e-12)
        clips = torch.nn.functional.normalize(clips, dim=-1, eps=1e-12)
    scores = torch.einsum('qh,vlh->qvl', queries, clips)
    scores = scores.masked_fill(~mask.bool()[None],
                                torch.finfo(scores.dtype).min)
    return scores.amax(dim=-1)


def _argsort_ranks(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """1-based positions of the positives in a full descending sort."""
    order = np.argsort(-scores, axis=1, kind='stable')
    position = np.empty_like(order)
    np.put_along_axis(
        position,
        order,
        np.arange(scores.shape[1])[None].repeat(scores.shape[0], 0),
        axis=1)
    ranks = np.take_along_axis(position, np.clip(positives, 0, None), 1) + 1
    return np.where(positives >= 0, ranks, 0)


def _random_clips(num_videos=7, max_len=5, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    clips = torch.randn(num_videos, max_len, dim, generator=gen)
    lengths = torch.randint(1, max_len + 1, (num_videos, ), generator=gen)
    lengths[0] = max_len
    mask = torch.arange(max_len)[None] < lengths[:, None]
    return clips, mask, gen


# ---------------------------------------------------------------- golden


def test_metrics_random_golden():
    data = np.load(GOLDEN / 'metrics_random.npz')
    golden = json.loads((GOLDEN / 'metrics_random.json').read_text())
    scores = data['scores'].astype(np.float64)
    ours = retrieval_metrics(
        torch.from_numpy(scores), torch.from_numpy(data['gt']))
    _check_golden(ours, golden)
    assert ours['SumR'] == pytest.approx(
        sum(golden[k] for k in ('r1', 'r5', 'r10', 'r100')), abs=1e-9)
    _check_golden(baseline_retrieval_metrics(scores, data['gt']), golden)
    # a small chunk gives the same ranks
    _check_golden(
        retrieval_metrics(
            torch.from_numpy(scores), torch.from_numpy(data['gt']), chunk=7),
        golden)


@pytest.mark.parametrize('branch', ['inher', 'explore', 'fused'])
def test_eval_small_golden(branch):
    data = np.load(GOLDEN / 'eval_small.npz')
    golden = json.loads((GOLDEN / 'eval_small.json').read_text())['metrics']
    scores = data[f'{branch}_scores']
    positives = data['query_video_index'][:, None]
    ours = retrieval_metrics(
        torch.from_numpy(scores), torch.from_numpy(positives))
    _check_golden(ours, golden[branch])
    _check_golden(
        baseline_retrieval_metrics(scores, positives), golden[branch])


def test_fuse_golden():
    data = np.load(GOLDEN / 'eval_small.npz')
    fused = fuse(
        dict(
            inher=torch.from_numpy(data['inher_scores']),
            explore=torch.from_numpy(data['explore_scores'])),
        fusion_weights(('inher', 'explore'), 0.7))
    np.testing.assert_allclose(
        fused.numpy(), data['fused_scores'], rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        fuse(
            dict(a=torch.zeros(2, 3), b=torch.zeros(3, 2)), dict(a=0.5, b=0.5))


@pytest.mark.parametrize('prefix', ['inher', 'explore', 'teacher'])
def test_max_over_clips_golden(prefix):
    """Authors' max-over-frames cosine and raw dot product scores."""
    scores = np.load(GOLDEN / 'scores.npz')
    batch = np.load(GOLDEN / 'batch.npz')
    mask = torch.from_numpy(batch['student_videos_mask'])  # float mask
    if prefix == 'teacher':
        queries = torch.from_numpy(batch['teacher_text'])
        clips = torch.from_numpy(batch['teacher_videos'])
    else:
        queries = torch.from_numpy(scores[f'{prefix}_query'])
        clips = torch.from_numpy(scores[f'{prefix}_video_feat'])
    cos = max_over_clips(queries, clips, mask, query_chunk=4, video_chunk=4)
    np.testing.assert_allclose(
        cos.numpy(), scores[f'{prefix}_max_scores'], rtol=1e-5, atol=1e-6)
    dot = max_over_clips(
        queries, clips, mask, normalize=False, query_chunk=4, video_chunk=4)
    np.testing.assert_allclose(
        dot.numpy(),
        scores[f'{prefix}_max_scores_unnorm'],
        rtol=1e-5,
        atol=1e-5)


# ------------------------------------------------------ chunked scoring


@pytest.mark.parametrize('normalize', [True, False])
@pytest.mark.parametrize('chunks', [(3, 2), (1, 1), (5, 100), (100, 3)])
def test_max_over_clips_matches_dense(normalize, chunks):
    clips, mask, gen = _random_clips()
    queries = torch.randn(11, 8, generator=gen)
    expected = _dense_max_scores(queries, clips, mask, normalize)
    out = max_over_clips(
        queries,
        clips,
        mask,
        query_chunk=chunks[0],
        video_chunk=chunks[1],
        normalize=normalize)
    assert out.shape == (11, 7)
    assert out.dtype == torch.float32
    assert out.device == queries.device
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    # float mask (1 valid / 0 pad) and float64 / float16 inputs
    out_float_mask = max_over_clips(
        queries.double(),
        clips.half(),
        mask.float(),
        query_chunk=3,
        video_chunk=2,
        normalize=normalize,
        device='cpu')
    expected_half = _dense_max_scores(queries,
                                      clips.half().float(), mask, normalize)
    torch.testing.assert_close(
        out_float_mask.double(), expected_half, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('normalize', [True, False])
def test_max_over_clips_half(normalize):
    clips, mask, gen = _random_clips(num_videos=9, max_len=6, dim=32)
    queries = torch.randn(10, 32, generator=gen)
    full = max_over_clips(queries, clips, mask, normalize=normalize)
    half = max_over_clips(
        queries,
        clips,
        mask,
        query_chunk=3,
        video_chunk=2,
        normalize=normalize,
        precision='bf16')
    assert half.dtype == torch.float32
    scale = 1.0 if normalize else float(full.abs().max())
    torch.testing.assert_close(half, full, rtol=0, atol=1e-2 * scale)


def test_max_over_clips_masks():
    """Non-prefix masks, all-padded videos and masked huge values."""
    clips, mask, gen = _random_clips(num_videos=6, max_len=5)
    mask = mask.clone()
    mask[1] = torch.tensor([False, True, False, True, False])  # holes
    mask[2] = False  # no valid clip
    mask[4] = False
    clips[3, ~mask[3]] = 1e6  # padded values must never win
    queries = torch.randn(4, 8, generator=gen)
    for normalize in (True, False):
        expected = _dense_max_scores(queries, clips, mask, normalize)
        for half in (False, True):
            out = max_over_clips(
                queries,
                clips,
                mask,
                query_chunk=3,
                video_chunk=2,
                normalize=normalize,
                precision='bf16' if half else 'fp32')
            fmin = torch.finfo(torch.float32).min
            assert torch.all(out[:, [2, 4]] == fmin)
            keep = [0, 1, 3, 5]
            atol = (1e-2 if normalize else 0.5) if half else 1e-5
            torch.testing.assert_close(
                out[:, keep].double(), expected[:, keep], rtol=0, atol=atol)
    # a chunk made only of empty videos
    out = max_over_clips(queries, clips, mask, video_chunk=1)
    assert torch.all(out[:, [2, 4]] == torch.finfo(torch.float32).min)


def test_max_over_clips_empty_and_errors():
    clips, mask, _ = _random_clips()
    assert max_over_clips(torch.zeros(0, 8), clips, mask).shape == (0, 7)
    with pytest.raises(ValueError):
        max_over_clips(torch.zeros(2, 4), clips, mask)
    with pytest.raises(ValueError):
        max_over_clips(torch.zeros(2, 8), clips, mask[:, :2])


# --------------------------------------------------------------- ranking


def test_gt_ranks_matches_argsort():
    gen = np.random.default_rng(0)
    num_queries, num_videos = 37, 23
    scores = gen.standard_normal((num_queries, num_videos))
    positives = np.full((num_queries, 3), -1, dtype=np.int64)
    for i in range(num_queries):
        count = gen.integers(1, 4)
        positives[i, :count] = gen.choice(num_videos, count, replace=False)
    expected = _argsort_ranks(scores, positives)
    for chunk in (1, 5, 4096):
        ranks = gt_ranks(
            torch.from_numpy(scores), torch.from_numpy(positives), chunk=chunk)
        assert ranks.dtype == torch.int64
        np.testing.assert_array_equal(ranks.numpy(), expected)
    assert (ranks[torch.from_numpy(positives) < 0] == 0).all()


def test_gt_ranks_ties():
    """A tied positive gets 1 + #strictly greater (best rank of the tie)."""
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.5, 0.1],
                           [1.0, 1.0, 1.0, 1.0, 1.0]])
    positives = torch.tensor([[2, 3, 4], [4, -1, -1]])
    ranks = gt_ranks(scores, positives)
    assert ranks.tolist() == [[2, 2, 5], [1, 0, 0]]
    with pytest.raises(ValueError):
        gt_ranks(scores, torch.tensor([[5], [0]]))


def test_metrics_edge_cases():
    # query 0: positive ranked last; query 1: positive first;
    # query 2: best of two positives at rank 2, first positive at rank 3
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4],
                           [0.4, 0.3, 0.2, 0.1]])
    positives = torch.tensor([[3, -1], [3, -1], [2, 1]])
    metrics = retrieval_metrics(scores, positives, ks=(1, 2, 5, 100))
    best = np.array([4, 1, 2])
    assert metrics['R@1'] == pytest.approx(100 / 3)
    assert metrics['R@2'] == pytest.approx(200 / 3)
    assert metrics['R@5'] == 100.0  # k larger than V
    assert metrics['R@100'] == 100.0
    assert metrics['SumR'] == pytest.approx(100 / 3 + 200 / 3 + 200)
    assert metrics['MedR'] == float(np.median(best))
    assert metrics['MnR'] == pytest.approx(best.mean())
    assert metrics['mAP'] == pytest.approx((1 / 4 + 1 + 1 / 3) / 3)
    base = baseline_retrieval_metrics(scores.numpy(), positives.numpy())
    default = retrieval_metrics(scores, positives)
    assert set(base) == set(default) == set(METRIC_KEYS)
    for key in METRIC_KEYS:
        assert default[key] == pytest.approx(base[key], abs=1e-12)
    # even number of queries: MedR is the mean of the two middle ranks
    even = retrieval_metrics(scores[:2], positives[:2])
    assert even['MedR'] == 2.5
    # 1-D positives are one positive per query
    one_d = retrieval_metrics(scores, positives[:, 0])
    assert one_d['MnR'] == pytest.approx((4 + 1 + 3) / 3)
    with pytest.raises(ValueError):
        retrieval_metrics(scores, torch.tensor([[-1, 3], [3, -1], [2, 1]]))


def test_metrics_random_vs_baseline():
    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(64, 150, generator=gen)
    positives = torch.randint(0, 150, (64, 2), generator=gen)
    positives[::3, 1] = -1
    ours = retrieval_metrics(scores, positives, chunk=10)
    base = baseline_retrieval_metrics(scores.numpy(), positives.numpy())
    for key in METRIC_KEYS:
        assert ours[key] == pytest.approx(base[key], abs=1e-12)


def test_fusion_weights_and_random_sumr():
    assert fusion_weights(('inher', 'explore'), 0.7) == dict(
        inher=0.7, explore=pytest.approx(0.3))
    assert fusion_weights(('inher', ), 0.7) == dict(inher=1.0)
    named = fusion_weights(('a', 'b', 'c'), dict(c=0.2, a=0.5, b=0.3))
    assert list(named) == ['a', 'b', 'c'] and named['c'] == 0.2
    with pytest.raises(ValueError, match='branches'):
        fusion_weights(('a', 'b'), dict(a=1.0))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        fusion_weights(('a', 'b'), 1.5)
    # 12 videos: R@1 1/12, R@5 5/12, R@10 10/12, R@100 all
    assert random_ranking_sumr(12) == pytest.approx(100 * (16 / 12 + 1))


@pytest.mark.parametrize('normalize', [True, False])
def test_max_over_clips_flat_equals_padded(normalize):
    """Flat (N, H) clips with offsets score as their padded form, whether
    the videos are stored sorted by length (views) or not (gathers)."""
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([3, 1, 3, 5, 2, 5, 5, 1])
    dim = 6
    queries = torch.randn(9, dim, generator=g)
    clips = [torch.randn(n, dim, generator=g) for n in lengths.tolist()]
    padded = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    mask = torch.arange(5)[None] < lengths[:, None]
    ref = max_over_clips(queries, padded, mask, normalize=normalize)
    for order in (torch.arange(8), torch.argsort(lengths, stable=True)):
        flat = torch.cat([clips[i] for i in order.tolist()])
        offsets = torch.cat(
            [torch.zeros(1, dtype=torch.long), lengths[order].cumsum(0)])
        for chunk in (None, 1, 2):
            out = max_over_clips(
                queries,
                flat,
                offsets=offsets,
                normalize=normalize,
                video_chunk=chunk)
            torch.testing.assert_close(out, ref[:, order], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='not both'):
        max_over_clips(queries, padded, mask, offsets=offsets)


def test_training_kernel_scores_as_max_over_clips():
    """The differentiable kernel of the model (``clip_scores``) and the
    evaluation kernel give the same max-over-clips cosine."""
    from prvr_mm.models import clip_scores
    g = torch.Generator().manual_seed(4)
    clips = torch.randn(5, 7, 8, generator=g)
    mask = torch.arange(7)[None] < torch.tensor([7, 1, 4, 6, 2])[:, None]
    queries = torch.randn(6, 8, generator=g)
    ours = max_over_clips(queries, clips, mask)
    torch.testing.assert_close(
        clip_scores(queries, clips, mask).cos_max, ours, rtol=0, atol=1e-6)
