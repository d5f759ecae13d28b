"""Approximate clip-level candidate search with faiss, for large
collections.

One faiss index holds a *fused clip embedding* per clip,
``[sqrt(w) * c_inher, sqrt(1 - w) * c_explore]`` of the L2-normalised
branch embeddings, so that the inner product with the fused query
``[sqrt(w) * q_inher, sqrt(1 - w) * q_explore]`` is the fused clip-level
cosine ``w * cos_inher + (1 - w) * cos_explore``. The videos of the best
clips are the candidates that :func:`~prvr_mm.apis.search.search_videos`
re-scores exactly (max over each video's clips per branch, then fused).
An ANN is built under the fusion weights it is given (the evaluator's,
recorded in the index fingerprint) and refuses a search under others.
:class:`ClipANN` owns the only faiss memory of a search index. Any faiss
``index_factory`` string works (``'Flat'``, ``'IVF4096,Flat'``,
``'HNSW32'``, ``'PCAR128,IVF4096,SQ8'``, ...); search-time parameters are a
faiss ``ParameterSpace`` string (``'nprobe=32'``, ``'efSearch=128'``).
``benchmarks/search_scale.py`` measures the trade-offs.
"""
import math
from typing import Dict, Mapping, Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import SearchIndexError
from ..utils.dependencies import require

__all__ = ['ClipANN', 'fused_vectors']


def _faiss():
    return require('faiss', 'approximate search (ClipANN)')


def fused_vectors(vectors: Mapping[str, Tensor],
                  weights: Mapping[str, float]) -> np.ndarray:
    """Concatenate L2-normalised branch vectors scaled by ``sqrt(weight)``.

    Args:
        vectors (dict[str, Tensor]): per branch (n, H) L2-normalised
            vectors (queries or clips).
        weights (dict[str, float]): fusion weight of every branch.

    Returns:
        np.ndarray: (n, sum H) contiguous float32 array.
    """
    parts = [
        vectors[name].float() * math.sqrt(weight)
        for name, weight in weights.items()
    ]
    return np.ascontiguousarray(torch.cat(parts, dim=1).numpy())


class ClipANN:
    """A faiss inner-product index over fused clip embeddings.

    Args:
        factory (str): faiss ``index_factory`` string. Defaults to
            ``'IVF1024,Flat'``.
        params (str): faiss ``ParameterSpace`` search parameters, e.g.
            ``'nprobe=32'``. Defaults to ``''``.
        weights (dict[str, float]): fusion weight of every branch (the
            evaluator's, :meth:`PRVRMetric.from_config
            <prvr_mm.evaluation.PRVRMetric.from_config>`); the fused clip
            embeddings are built with them.
        index (faiss.Index, optional): an already built index (used by
            :meth:`from_bytes`).
    """

    def __init__(self,
                 factory: str = 'IVF1024,Flat',
                 params: str = '',
                 weights: Optional[Mapping[str, float]] = None,
                 index=None) -> None:
        if not weights:
            raise ValueError('ClipANN needs the fusion weight of every '
                             "branch, e.g. {'inher': 0.7, 'explore': 0.3}")
        self.factory = factory
        self.params = params
        self.weights = {b: float(w) for b, w in weights.items()}
        self.index = index
        if index is not None and params:
            self.set_params(params)

    @property
    def ntotal(self) -> int:
        """Number of clips in the index (0 before :meth:`build`)."""
        return 0 if self.index is None else int(self.index.ntotal)

    def set_params(self, params: str) -> None:
        """Apply faiss search parameters (``'nprobe=32'``...)."""
        self.params = params
        if params and self.index is not None:
            try:
                _faiss().ParameterSpace().set_index_parameters(
                    self.index, params)
            except RuntimeError as e:
                raise ValueError(f'faiss parameters {params!r} do not apply '
                                 f'to index {self.factory!r}: {e}') from e

    def build(self,
              clips: Mapping[str, Tensor],
              train_size: int = 100_000,
              seed: int = 0,
              chunk: int = 1 << 16,
              kmeans_iters: int = 10) -> 'ClipANN':
        """Train (on a random sample) and fill the index.

        Clips are fused and added ``chunk`` rows at a time, so the only
        full-size copy is faiss' own.

        Args:
            clips (dict[str, Tensor]): per branch (N, H) L2-normalised clip
                embeddings (any float dtype).
            train_size (int): at most this many clips train the index
                (k-means, PCA, PQ). Defaults to 100000.
            seed (int): seed of the training sample. Defaults to 0.
            chunk (int): rows fused and added at once. Defaults to 65536.
            kmeans_iters (int): k-means iterations of an IVF coarse
                quantizer (faiss' default is 25; 10 trains 2.5x faster,
                recall after re-scoring is measured by
                ``benchmarks/search_scale.py``). Defaults to 10.

        Returns:
            ClipANN: ``self``.
        """
        faiss = _faiss()
        num = len(next(iter(clips.values())))
        dim = sum(c.shape[1] for c in clips.values())
        try:
            index = faiss.index_factory(dim, self.factory,
                                        faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as e:
            raise ValueError(
                f'invalid faiss index_factory string {self.factory!r}: '
                f'{e}') from e
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.cp.niter = kmeans_iters
        if not index.is_trained:
            rows = torch.arange(num)
            if num > train_size:
                rng = np.random.default_rng(seed)
                rows = torch.from_numpy(
                    np.sort(rng.choice(num, train_size, replace=False)))
            index.train(
                fused_vectors({
                    b: c[rows]
                    for b, c in clips.items()
                }, self.weights))
        for start in range(0, num, chunk):
            index.add(
                fused_vectors(
                    {
                        b: c[start:start + chunk]
                        for b, c in clips.items()
                    }, self.weights))
        self.index = index
        self.set_params(self.params)
        return self

    def check_weights(self, weights: Mapping[str, float]) -> None:
        """Refuse fusion weights other than the ANN's own.

        Raises:
            SearchIndexError: naming both weights and the fix.
        """
        asked = {b: float(w) for b, w in weights.items()}
        if asked != self.weights:
            raise SearchIndexError(
                f'the ANN ({self.factory!r}) was built under fusion weights '
                f'{self.weights}, the search asks for {asked}: rebuild it '
                'under these weights (demo/prvr_search.py --build-index '
                '... --ann FACTORY) or search exactly (no candidates)')

    def search(self, queries: Mapping[str, Tensor], num: int,
               weights: Mapping[str, float]) -> Tensor:
        """Best ``num`` clips of every query by fused clip cosine.

        Args:
            queries (dict[str, Tensor]): per branch (q, H) L2-normalised
                query vectors.
            num (int): clips per query.
            weights (dict[str, float]): the fusion weights of the search;
                they must be the ANN's (:meth:`check_weights`).

        Returns:
            Tensor: (q, min(num, ntotal)) int64 clip rows, -1 where faiss
            found fewer.
        """
        if self.index is None:
            raise RuntimeError('ClipANN.search before build()')
        self.check_weights(weights)
        num = min(int(num), self.ntotal)
        _, ids = self.index.search(fused_vectors(queries, self.weights), num)
        return torch.from_numpy(ids).to(torch.long)

    def to_bytes(self) -> np.ndarray:
        """The serialised faiss index (uint8 array)."""
        return _faiss().serialize_index(self.index)

    @classmethod
    def from_bytes(cls, data: np.ndarray, factory: str, params: str,
                   weights: Mapping[str, float]) -> 'ClipANN':
        """Rebuild from :meth:`to_bytes` output."""
        index = _faiss().deserialize_index(np.asarray(data, dtype=np.uint8))
        return cls(factory, params, weights, index=index)

    def memory_bytes(self) -> int:
        """Size of the serialised index, about what it occupies in memory
        (written to a temporary file, not copied in memory)."""
        if self.index is None:
            return 0
        import os
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'ann.faiss')
            _faiss().write_index(self.index, path)
            return os.path.getsize(path)

    def describe(self) -> Dict[str, object]:
        """Factory, parameters and size, for headers and logs."""
        return dict(
            factory=self.factory,
            params=self.params,
            ntotal=self.ntotal,
            weights=dict(self.weights))
