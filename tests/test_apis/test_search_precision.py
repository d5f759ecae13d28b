"""Search and evaluation scoring in bf16: the bf16 exact search returns the
fp32 search's videos and scores (its shortlist is re-scored in fp32), the
inferencer and ``demo/prvr_search.py --precision`` pass it on, and
``tools/test.py --precision bf16`` ranks the toy like fp32."""
import json
import os.path as osp

import h5py
import pytest
import torch
import torch.nn.functional as F

from prvr_mm.apis import PRVRInferencer, SearchIndex, search_videos
from prvr_mm.apis.search import BF16_SCORE_TOL, video_scores
from prvr_mm.evaluation.scoring import fusion_weights
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import run_tool, save_random_checkpoint, tool

FP = dict(
    weights='w',
    pipeline='p',
    branches='inher,explore',
    fusion_weights=dict(inher=0.7, explore=0.3))
BRANCHES = ('inher', 'explore')


def crowded_index(num_videos=300, dim=32, seed=0):
    """Videos whose clips are small perturbations of one direction: the
    scores of a query crowd within bf16's resolution."""
    g = torch.Generator().manual_seed(seed)
    base = {b: torch.randn(dim, generator=g) for b in BRANCHES}
    videos = []
    for i in range(num_videos):
        t = 3 + i % 5
        spans = torch.stack([torch.arange(t), torch.arange(t) + 1], 1)
        videos.append(
            dict(
                video_id=f'v{i}',
                clips={
                    b: base[b] + 0.15 * torch.randn(t, dim, generator=g)
                    for b in BRANCHES
                },
                spans=spans.double(),
                timed=False,
                duration=None,
                video_path=None))
    queries = {
        b: base[b] + 0.3 * torch.randn(16, dim, generator=g)
        for b in BRANCHES
    }
    return SearchIndex.from_videos(videos, FP, torch.float32), queries


def test_bf16_search_returns_the_fp32_results():
    """Raw bf16 scores reorder near-ties (so the top-k by bf16 alone
    differs from fp32's) and stay within BF16_SCORE_TOL; the bf16 search
    re-scores its shortlist in fp32 and returns fp32's videos, scores and
    moment hints."""
    index, queries = crowded_index()
    weights = fusion_weights(BRANCHES, 0.7)
    unit = {b: F.normalize(q, dim=-1) for b, q in queries.items()}
    raw = {
        p: video_scores(index, unit, weights, precision=p)['fused']
        for p in ('fp32', 'bf16')
    }
    assert float((raw['fp32'] - raw['bf16']).abs().max()) <= BF16_SCORE_TOL
    k = 10
    top = {p: torch.topk(s, k, dim=1).indices for p, s in raw.items()}
    assert not torch.equal(top['fp32'], top['bf16'])  # the case at stake
    out = {
        p: search_videos(index, queries, weights, top_k=k, precision=p)
        for p in ('fp32', 'bf16')
    }
    assert torch.equal(out['bf16']['videos'], out['fp32']['videos'])
    for key in ('scores', 'inher_scores', 'explore_scores'):
        torch.testing.assert_close(
            out['bf16'][key], out['fp32'][key], rtol=0, atol=1e-6)
    for key in ('best', 'start', 'end'):
        assert torch.equal(out['bf16'][key], out['fp32'][key])


@pytest.fixture(scope='module')
def toy(tmp_path_factory, tiny_toy_root):
    """A random tiny model, ``tools/test.py --precision bf16 --dump`` on
    the toy's test split (a real subprocess), and an fp32 index."""
    work = str(tmp_path_factory.mktemp('precision_search'))
    ckpt = save_random_checkpoint(osp.join(work, 'model.pth'), seed=0)
    run_tool(
        tool('test.py'),
        CFG,
        ckpt,
        '--work-dir',
        work,
        '--precision',
        'bf16',
        '--dump',
        'rankings.json',
        '--dump-topk',
        '5',
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=work)
    with open(osp.join(work, 'rankings.json')) as f:
        dump = json.load(f)
    index = osp.join(work, 'test.index.h5')
    PRVRInferencer(
        CFG, ckpt, precision='fp32').index(
            'test', index, data_root=tiny_toy_root, dtype='float32')
    return dict(work=work, ckpt=ckpt, dump=dump, index=index)


def _query_tokens(root, query_ids):
    with h5py.File(
            osp.join(root, 'TextData', 'roberta_toy_query_feat.hdf5'),
            'r') as f:
        return [f[q][()] for q in query_ids]


def test_tools_test_precision_bf16_ranks_like_fp32(toy, tiny_toy_root):
    """``tools/test.py --precision bf16`` scored in bf16 (its per-branch
    scores are bf16 numbers) and ranked the toy like the fp32 search: the
    i-th best score of every query within BF16_SCORE_TOL of fp32's (order
    statistics move no more than the scores), the order changed only among
    near-ties, and most queries' top 5 identical."""
    queries = toy['dump']['queries']
    ids = [q['query_id'] for q in queries]
    fp32 = PRVRInferencer(
        CFG, toy['ckpt'], index=toy['index'], precision='fp32').search(
            _query_tokens(tiny_toy_root, ids), top_k=5)
    same = 0
    for q, ref in zip(queries, fp32):
        got = [r['video_id'] for r in q['results']]
        want = [r['video_id'] for r in ref['results']]
        same += got == want
        for r, e in zip(q['results'], ref['results']):
            assert abs(r['score'] - e['score']) <= BF16_SCORE_TOL
            for key in ('inher_score', 'explore_score'):
                bf16 = torch.tensor(r[key]).bfloat16().float().item()
                assert r[key] == bf16  # the metric really ran in bf16
        if got != want:  # swapped videos are fp32 near-ties
            fp32_score = {r['video_id']: r['score'] for r in ref['results']}
            for a, b in zip(got, want):
                if a != b and a in fp32_score:
                    gap = abs(fp32_score[a] - fp32_score[b])
                    assert gap <= 2 * BF16_SCORE_TOL, q['query_id']
    assert same >= 0.75 * len(queries), f'{same} of {len(queries)}'


def _assert_like_fp32(ref: list, low: list) -> int:
    """Predictions of a bf16 search (query encoding in bf16 too) against
    fp32's: the i-th best score within 2 * BF16_SCORE_TOL, not all equal
    (bf16 really ran). Returns the queries with identical top videos."""
    same, equal = 0, True
    for r, b in zip(ref, low):
        same += [x['video_id'] for x in r['results']
                 ] == [x['video_id'] for x in b['results']]
        for x, y in zip(r['results'], b['results']):
            assert abs(x['score'] - y['score']) <= 2 * BF16_SCORE_TOL
            equal = equal and x['score'] == y['score']
    assert not equal
    return same


def test_inferencer_and_demo_precision(toy, tiny_toy_root, tmp_path):
    """``PRVRInferencer(precision='bf16')`` and ``demo/prvr_search.py
    --precision bf16`` search like fp32 (most top-5 lists identical)."""
    ids = [q['query_id'] for q in toy['dump']['queries']]
    tokens = _query_tokens(tiny_toy_root, ids)
    preds = {
        p:
        PRVRInferencer(CFG, toy['ckpt'], index=toy['index'],
                       precision=p).search(tokens, top_k=5)
        for p in ('fp32', 'bf16')
    }
    same = _assert_like_fp32(preds['fp32'], preds['bf16'])
    assert same >= 0.75 * len(ids), f'{same} of {len(ids)}'
    from demo.prvr_search import main
    out = {}
    for p in ('fp32', 'bf16'):
        path = str(tmp_path / f'{p}.json')
        assert main([
            CFG, toy['ckpt'], '--index', toy['index'], '--query',
            'a person walks', '--precision', p, '--json', path,
            '--cfg-options', f'data_root={tiny_toy_root}'
        ]) == 0
        with open(path) as f:
            out[p] = json.load(f)
    _assert_like_fp32(out['fp32'], out['bf16'])
