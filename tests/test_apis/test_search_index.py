"""``SearchIndex`` and the search functions: exact and ANN search against
per-pair loops, the faiss re-scoring path against the torch one, save /
load, validation, fusion weights owned by the searcher."""
import h5py
import pytest
import torch
import torch.nn.functional as F

from prvr_mm.apis import (ClipANN, SearchIndex, SearchIndexError, load_index,
                          save_index, search_videos)
from prvr_mm.apis.search import row_scorer
from prvr_mm.evaluation.moments import best_runs, pair_clip_scores
from prvr_mm.evaluation.scoring import fusion_weights

FP = dict(
    weights='w',
    pipeline='p',
    branches='inher,explore',
    fusion_weights=dict(inher=0.7, explore=0.3))

LENGTHS = (5, 2, 7, 3, 4, 2, 6)
BOTH = ('inher', 'explore')


def make_videos(lengths=LENGTHS, h=8, seed=0, branches=BOTH):
    g = torch.Generator().manual_seed(seed)
    videos = []
    for i, t in enumerate(lengths):
        duration = None if i == 1 else 1.5 * t
        spans = torch.stack([torch.arange(t), torch.arange(t) + 1], 1)
        spans = spans.double() * (1.5 if duration else 1.0)
        videos.append(
            dict(
                video_id=f'v{i}',
                clips={b: torch.randn(t, h, generator=g)
                       for b in branches},
                spans=spans,
                timed=duration is not None,
                duration=duration,
                video_path=f'/videos/v{i}.mp4' if i % 2 else None))
    return videos


def brute(videos, queries, w):
    """Per pair: per-branch max cosine, fused score, fused curve."""
    out = []
    for qi in range(len(next(iter(queries.values())))):
        rows = []
        for v in videos:
            cos = {
                b:
                F.normalize(v['clips'][b], dim=-1) @ F.normalize(
                    queries[b][qi], dim=0)
                for b in queries
            }
            weights = {'inher': w, 'explore': 1 - w} if len(queries) == 2 \
                else {'inher': 1.0}
            curve = sum(weights[b] * cos[b] for b in weights)
            score = sum(weights[b] * cos[b].max() for b in weights)
            rows.append((float(score), v['video_id'], curve, cos))
        out.append(rows)
    return out


@pytest.mark.parametrize('branches', [('inher', 'explore'), ('inher', )])
def test_exact_search_matches_loops(branches):
    videos = make_videos(branches=branches)
    index = SearchIndex.from_videos(videos, FP, dtype=torch.float32)
    assert index.num_clips.tolist() == sorted(len(v['spans']) for v in videos)
    g = torch.Generator().manual_seed(1)
    queries = {b: torch.randn(6, 8, generator=g) for b in branches}
    clips = {b: c.clone() for b, c in index.clips.items()}
    out = search_videos(
        index, queries, fusion_weights(branches, 0.6), top_k=4, run_ratio=0.3)
    for b in branches:  # a search changes nothing
        assert index.clips[b] is not clips[b]
        assert torch.equal(index.clips[b], clips[b])
    ref = brute(videos, queries, 0.6)
    for qi, rows in enumerate(ref):
        order = sorted(rows, key=lambda r: -r[0])[:4]
        got = [index.video_ids[v] for v in out['videos'][qi].tolist()]
        assert got == [r[1] for r in order]
        for j, (score, vid, curve, cos) in enumerate(order):
            assert out['scores'][qi, j].item() == pytest.approx(
                score, abs=1e-5)
            for b in branches:
                assert out[f'{b}_scores'][qi, j].item() == pytest.approx(
                    float(cos[b].max()), abs=1e-5)
            key = 'fused' if len(branches) == 2 else 'inher'
            t = len(curve)
            assert torch.allclose(
                out['curves'][key][qi, j, :t], curve, atol=1e-5)
            best, start, end = best_runs(curve[None], 0.3)
            assert out['best'][qi, j] == best[0]
            assert (out['start'][qi, j], out['end'][qi,
                                                    j]) == (start[0], end[0])


def test_faiss_scorer_equals_torch_path():
    index = SearchIndex.from_videos(make_videos(), FP, torch.float32)
    stored = dict(index.clips)
    g = torch.Generator().manual_seed(2)
    q = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    videos = torch.tensor([[0, 3, -1], [6, 6, 1], [-1, -1, -1], [2, 4, 5],
                           [1, 0, 3]])
    plain = pair_clip_scores(
        q, index.clips['inher'], index.offsets, videos, normalized=True)
    fast = pair_clip_scores(
        q,
        index.clips['inher'],
        index.offsets,
        videos,
        normalized=True,
        scorer=row_scorer(index.clips['inher']))
    assert torch.equal(torch.isinf(plain), torch.isinf(fast))
    assert torch.allclose(
        plain[torch.isfinite(plain)], fast[torch.isfinite(fast)], atol=1e-6)
    # the scorer reads the clips in place: the index keeps its own tensors
    assert all(index.clips[b] is stored[b] for b in stored)


def test_save_load_roundtrip(tmp_path):
    videos = make_videos()
    index = SearchIndex.from_videos(videos, FP)
    path = save_index(index, str(tmp_path / 'sub' / 'x.index.h5'))
    loaded = load_index(path)
    assert loaded.source == path and index.source == path
    assert loaded.video_ids == index.video_ids
    assert loaded.video_paths == index.video_paths
    assert loaded.video_paths[index.video_ids.index('v1')] == \
        '/videos/v1.mp4'
    assert loaded.fingerprint == FP
    assert loaded.storage_dtype == torch.float16
    for b in index.branches:
        assert torch.equal(loaded.clips[b], index.clips[b])
    assert torch.equal(loaded.spans, index.spans)
    assert loaded.timed.tolist() == index.timed.tolist()
    v1 = loaded.video_ids.index('v1')
    assert not loaded.timed[v1] and torch.isnan(loaded.durations[v1])
    assert loaded.moment_span(v1, 0, 1) == [0.0, 2.0]  # clip units
    assert not (tmp_path / 'sub' / 'x.index.h5.tmp').exists()


def test_validation_errors():
    videos = make_videos()
    with pytest.raises(SearchIndexError, match='0 videos'):
        SearchIndex.from_videos([], FP)
    dup = make_videos()[:2]
    dup[1]['video_id'] = 'v0'
    with pytest.raises(SearchIndexError, match='duplicate'):
        SearchIndex.from_videos(dup, FP)
    empty = make_videos()[:2]
    empty[0]['spans'] = empty[0]['spans'][:0]
    empty[0]['clips'] = {b: c[:0] for b, c in empty[0]['clips'].items()}
    with pytest.raises(SearchIndexError, match='no clip'):
        SearchIndex.from_videos(empty, FP)
    index = SearchIndex.from_videos(videos, FP)
    with pytest.raises(SearchIndexError, match='another model'):
        index.check_fingerprint(dict(FP, weights='other'))
    w = FP['fusion_weights']
    with pytest.raises(ValueError, match='lack branch'):
        search_videos(index, {'inher': torch.randn(1, 8)}, w)
    with pytest.raises(ValueError, match='top_k'):
        search_videos(
            index, {b: torch.randn(1, 8)
                    for b in index.branches}, w, top_k=0)


def test_fusion_weights_mismatch_is_refused(tmp_path):
    """The index records its weights only to refuse other ones; the ANN is
    built under the given weights and refuses a search under others."""
    index = SearchIndex.from_videos(make_videos(), FP, torch.float32)
    other = dict(inher=0.5, explore=0.5)
    with pytest.raises(SearchIndexError) as e:
        index.check_fingerprint(dict(FP, fusion_weights=other))
    message = str(e.value)
    assert "'inher': 0.7" in message and "'inher': 0.5" in message
    assert 'test_evaluator.fusion_weight' in message and \
        '--build-index' in message
    with pytest.raises(SearchIndexError, match='fusion weights'):
        index.set_ann(ClipANN('Flat', '', other).build(index.clips))
    index.set_ann(ClipANN('Flat', '', FP['fusion_weights']).build(index.clips))
    queries = {b: torch.randn(2, 8) for b in index.branches}
    with pytest.raises(SearchIndexError, match=r'built under fusion weights'):
        search_videos(index, queries, other, candidates=5)
    search_videos(index, queries, FP['fusion_weights'], candidates=5)
    # saved and loaded: the ANN takes the fingerprint's weights
    path = save_index(index, str(tmp_path / 'ann.index.h5'))
    with h5py.File(path, 'r') as f:
        assert 'fusion_weight' not in f.attrs and f.attrs['version'] == 2
    assert load_index(path).ann.weights == FP['fusion_weights']


def test_old_index_versions_are_refused(tmp_path):
    path = save_index(
        SearchIndex.from_videos(make_videos(), FP),
        str(tmp_path / 'old.index.h5'))
    with h5py.File(path, 'a') as f:
        f.attrs['version'] = 1
    with pytest.raises(SearchIndexError) as e:
        load_index(path)
    assert 'version 1 (written by an older prvr_mm)' in str(e.value)
    assert 'reads version 2' in str(e.value) and '--build-index' in str(
        e.value)
