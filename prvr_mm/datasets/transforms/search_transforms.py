"""Pack transforms of the search: one video, or one query, per sample.

The dataset's :class:`~prvr_mm.datasets.transforms.PackPRVRInputs` packs a
video together with all its queries (training and evaluation). A search
indexes videos without queries and encodes queries without videos, so it
ends the video and the query halves of the test pipeline
(:func:`prvr_mm.apis.pipelines.search_pipelines`) with these two packers.
"""
from typing import Dict

import numpy as np
import torch
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

__all__ = ['PackPRVRVideo', 'PackPRVRQuery']


@TRANSFORMS.register_module()
class PackPRVRVideo(BaseTransform):
    """Pack one video's clip features for indexing.

    Required keys: ``video_id``, ``video_feat`` (T, Dv). Optional keys:
    ``duration`` (seconds), ``video_path``.

    Output: ``inputs``: ``dict(video=(T, Dv) float32 tensor)``;
    ``data_samples``: a :class:`BaseDataElement` whose metainfo holds
    ``video_id``, ``num_clips`` and, when given, ``duration`` and
    ``video_path``.
    """

    META_KEYS = ('video_id', 'duration', 'video_path')

    def transform(self, results: Dict) -> Dict:
        """Pack the video."""
        video = torch.from_numpy(
            np.ascontiguousarray(results['video_feat'], np.float32))
        if video.dim() != 2 or len(video) == 0:
            raise ValueError(
                f'video {results.get("video_id")!r}: clip features of shape '
                f'{tuple(video.shape)}, expected (T, Dv) with T >= 1')
        meta = {
            k: results[k]
            for k in self.META_KEYS if results.get(k) is not None
        }
        meta['num_clips'] = len(video)
        return dict(
            inputs=dict(video=video),
            data_samples=BaseDataElement(metainfo=meta))


@TRANSFORMS.register_module()
class PackPRVRQuery(BaseTransform):
    """Pack one query's token features for the search.

    Required keys: ``query_feats``, a list holding one (L, Dq) array (the
    list the dataset's query transforms work on). Optional key: ``query``
    (the sentence, or a description of precomputed features).

    Output: ``inputs``: ``dict(query=(L, Dq) float32 tensor)``;
    ``data_samples``: a :class:`BaseDataElement` with metainfo ``query``.
    """

    def transform(self, results: Dict) -> Dict:
        """Pack the query."""
        feats = results['query_feats']
        if len(feats) != 1:
            raise ValueError(f'PackPRVRQuery packs one query per sample, got '
                             f'{len(feats)}')
        query = torch.from_numpy(np.ascontiguousarray(feats[0], np.float32))
        meta = dict(query=results.get('query', ''))
        return dict(
            inputs=dict(query=query),
            data_samples=BaseDataElement(metainfo=meta))
