"""Search speed and recall at 10k / 100k / 1M clips (and more).

``python benchmarks/search_scale.py [--scales 10000 100000 1000000]
[--data clustered random] [--index exact 'IVF{nlist},Flat|nprobe=16' ...]``

For every scale and data kind, a :class:`SearchIndex` of synthetic clip
embeddings (two branches of 384-d, float16, 8-56 clips per video, DL-DKD's
TVR sizes) is searched with 1000 queries (top-10, fusion weight 0.7) by
every index type; one line per (scale, data, index)::

    search_scale <clips> <index>: data=<kind> videos=V build_s=...
        qps=... recall@10=... index_mb=...

* ``exact``: :func:`~prvr_mm.apis.search_videos` without ANN (one GEMM per
  group of equally long videos); its top-10 is the
  reference of ``recall@10`` (fraction of the exact top-10 videos found).
* any other spec ``FACTORY[|PARAMS[;PARAMS...]]`` (faiss ``index_factory``
  string with ``{nlist}`` replaced by a power of two near ``4 * sqrt(clips)``,
  and ``ParameterSpace`` parameters, one line per setting and candidate
  count, the index built once): a :class:`ClipANN` over fused clip
  embeddings gives the ``--candidates`` best clips; their videos are
  re-scored exactly.
* ``qps``: queries per second of the whole search (candidates, exact
  re-scoring, moment hints) with 1000 queries per call; ``build_s``:
  training + adding the ANN (exact: generating the synthetic index, an
  upper bound of loading one); ``index_mb``: memory of the search
  structure: exact = the clip embeddings (float32 in memory, half that on
  disk), ANN = the faiss index, which comes on top of the clips
  (``clips_mb``) that the exact re-scoring reads.

Data: ``random`` = i.i.d. Gaussian clip and query embeddings (no structure:
the hardest case for any ANN, neighbours are barely closer than strangers);
``clustered`` = the two branches are noisy random projections of shared
64-d clip latents (concept + video topic + noise), queries of the concept
of a random clip plus noise -- closer to trained embeddings, whose
neighbourhoods are structured. Numbers on real embeddings will lie between.
The last line is the best ANN (qps) meeting ``recall@10 >= 0.95`` at the
largest scale, as ``search_scale_best ...``.
"""
import argparse
import math
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prvr_mm.apis import ClipANN, SearchIndex, search_videos  # noqa: E402

HIDDEN = 384
W = 0.7
WEIGHTS = {'inher': W, 'explore': 1 - W}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--scales', type=int, nargs='+', default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        '--data',
        nargs='+',
        default=['clustered', 'random'],
        choices=['clustered', 'random'])
    parser.add_argument(
        '--index',
        nargs='+',
        default=[
            'exact', 'IVF{nlist},Flat|nprobe=16',
            'PCAR128,IVF{nlist},Flat|nprobe=32',
            'PCAR128,IVF{nlist},SQ8|nprobe=32', 'PCAR128,HNSW32|efSearch=128'
        ])
    parser.add_argument('--queries', type=int, default=1000)
    parser.add_argument(
        '--candidates',
        type=int,
        nargs='+',
        default=[32, 128],
        help='ANN clip candidates whose videos are re-scored '
        'exactly (one line per value)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def nlist_for(num_clips: int) -> int:
    """Power of two nearest to ``4 * sqrt(N)`` (at least 16)."""
    return max(16, 2**round(math.log2(4 * math.sqrt(num_clips))))


def _normalize(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic(num_clips: int, kind: str, num_queries: int, seed: int):
    """(SearchIndex, per-branch (q, H) queries)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 57, size=num_clips // 8 + 8)
    cut = int(np.searchsorted(np.cumsum(lengths), num_clips)) + 1
    lengths = lengths[:cut]
    lengths[-1] -= int(lengths.sum()) - num_clips
    if lengths[-1] < 1:
        lengths = lengths[:-1]
        lengths[-1] += num_clips - int(lengths.sum())
    owner = np.repeat(np.arange(len(lengths)), lengths)
    clips, queries = {}, {}
    if kind == 'random':
        for b in ('inher', 'explore'):
            clips[b] = _normalize(
                rng.standard_normal((num_clips, HIDDEN), dtype=np.float32))
            queries[b] = _normalize(
                rng.standard_normal((num_queries, HIDDEN), dtype=np.float32))
    else:
        dim, concepts = 64, 4096
        table = rng.standard_normal((concepts, dim), dtype=np.float32)
        topic = 0.7 * rng.standard_normal(
            (len(lengths), dim), dtype=np.float32)
        concept = rng.integers(0, concepts, num_clips)
        latent = table[concept] + topic[owner] + 0.5 * rng.standard_normal(
            (num_clips, dim), dtype=np.float32)
        src = rng.integers(0, num_clips, num_queries)
        q_latent = table[concept[src]] + 0.7 * rng.standard_normal(
            (num_queries, dim), dtype=np.float32)
        for b in ('inher', 'explore'):
            proj = rng.standard_normal((dim, HIDDEN), dtype=np.float32) / 8
            clips[b] = np.empty((num_clips, HIDDEN), np.float32)
            for s in range(0, num_clips, 1 << 18):  # bounded temporaries
                e = min(s + (1 << 18), num_clips)
                clips[b][s:e] = _normalize(
                    latent[s:e] @ proj +
                    rng.standard_normal((e - s, HIDDEN), dtype=np.float32))
            queries[b] = _normalize(q_latent @ proj + rng.standard_normal(
                (num_queries, HIDDEN), dtype=np.float32))
        del latent
    # videos in ascending clip-count order, as SearchIndex stores them
    order = np.argsort(lengths, kind='stable')
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = np.concatenate(
        [np.arange(starts[v], starts[v] + lengths[v]) for v in order])
    num_v = len(lengths)
    index = SearchIndex(
        video_ids=[f'v{v}' for v in order],
        num_clips=torch.from_numpy(lengths[order]),
        clips={
            b: torch.from_numpy(c[rows]).half()
            for b, c in clips.items()
        },
        spans=torch.zeros(num_clips, 2, dtype=torch.float64),
        timed=torch.zeros(num_v, dtype=torch.bool),
        durations=torch.full((num_v, ), float('nan'), dtype=torch.float64),
        fingerprint=dict(
            weights='synthetic',
            pipeline='synthetic',
            branches='inher,explore',
            fusion_weights=WEIGHTS))
    return index, {b: torch.from_numpy(q) for b, q in queries.items()}


def report(scale, name, kind, index, clips_mb, line):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f'search_scale {scale} {name}: data={kind} videos={len(index)} '
        f'{line} clips_mb={clips_mb:.0f} peak_rss_mb={rss / 1024:.0f}',
        flush=True)


def timed_search(index, queries, candidates=None):
    start = time.perf_counter()
    out = search_videos(index, queries, WEIGHTS, 10, candidates)
    return out['videos'], time.perf_counter() - start


def recall_at_10(found: torch.Tensor, exact: torch.Tensor) -> float:
    hits = (found[:, :, None] == exact[:, None, :]) & (found[:, :, None] >= 0)
    return float(hits.any(1).sum(1).double().mean() / exact.shape[1])


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    best = None
    for scale in args.scales:
        for kind in args.data:
            start = time.perf_counter()
            index, queries = synthetic(scale, kind, args.queries, args.seed)
            build_s = time.perf_counter() - start  # exact: nothing to build
            clips_mb = sum(c.numel() * 4 for c in index.clips.values()) / 2**20
            timed_search(index, {b: q[:8] for b, q in queries.items()})
            exact, exact_s = timed_search(index, queries)
            for spec in args.index:
                factory, _, params = spec.partition('|')
                name = spec.replace('{nlist}', str(nlist_for(scale)))
                if factory == 'exact':
                    report(
                        scale, name, kind, index, clips_mb,
                        f'build_s={build_s:.2f} '
                        f'qps={args.queries / exact_s:.0f} '
                        f'recall@10=1.000 index_mb={clips_mb:.0f}')
                    continue
                factory = factory.replace('{nlist}', str(nlist_for(scale)))
                start = time.perf_counter()
                index.set_ann(ClipANN(factory, '', WEIGHTS).build(index.clips))
                build_s = time.perf_counter() - start
                ann_mb = index.ann.memory_bytes() / 2**20
                for setting in params.split(';'):
                    index.ann.set_params(setting)
                    for cand in args.candidates:
                        timed_search(index, {
                            b: q[:8]
                            for b, q in queries.items()
                        }, cand)
                        found, search_s = timed_search(index, queries, cand)
                        recall = recall_at_10(found, exact)
                        qps = args.queries / search_s
                        label = f'{factory}' + (f'|{setting}' if setting else
                                                '') + f',cand={cand}'
                        report(
                            scale, label, kind, index, clips_mb,
                            f'build_s={build_s:.1f} qps={qps:.0f} '
                            f'recall@10={recall:.3f} '
                            f'index_mb={ann_mb:.0f}')
                        if scale == max(args.scales) and recall >= 0.95 \
                                and (best is None or qps > best[0]):
                            best = (qps, f'{scale} {label}: data={kind} '
                                    f'qps={qps:.0f} recall@10={recall:.3f}')
                index.ann = None
            del index, queries
    if best is not None:
        print(f'search_scale_best {best[1]}')
    else:
        print('search_scale_best none: no ANN reached recall@10 >= 0.95 at '
              f'{max(args.scales)} clips')


if __name__ == '__main__':
    main()
