"""Pipeline transforms of one PRVR sample (a video with all its queries)."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from .functional import l2_normalize, uniform_feature_sampling


@TRANSFORMS.register_module()
class AlignTeacherClips(BaseTransform):
    """Resample student clips to the teacher's frame count (as the authors
    do); when the student has fewer clips, resample the teacher down to the
    student's count instead, so both stay aligned one to one.

    Required keys: ``video_feat`` (T, Dv), ``teacher_video_feat`` (Tt, Dt)
    (a sample without teacher features passes through).
    Modified keys: ``video_feat``, ``teacher_video_feat``.
    """

    def transform(self, results: Dict) -> Dict:
        """Align the two clip sequences."""
        teacher = results.get('teacher_video_feat')
        if teacher is None:
            return results
        video = results['video_feat']
        if len(video) >= len(teacher):
            results['video_feat'] = uniform_feature_sampling(
                video, len(teacher))
        else:
            results['teacher_video_feat'] = uniform_feature_sampling(
                teacher, len(video))
        return results


@TRANSFORMS.register_module()
class UniformClipSampling(BaseTransform):
    """Average clip features into at most ``max_len`` uniform segments.

    Args:
        max_len (int): max clips per video (``max_ctx_l``).
        keys (Sequence[str]): (T, D) arrays to resample. Defaults to
            ``('video_feat', 'teacher_video_feat')``; absent keys are skipped.
    """

    def __init__(
        self,
        max_len: int,
        keys: Sequence[str] = ('video_feat', 'teacher_video_feat')
    ) -> None:
        if max_len < 1:
            raise ValueError(f'max_len must be >= 1, got {max_len}')
        self.max_len = max_len
        self.keys = tuple(keys)

    def transform(self, results: Dict) -> Dict:
        """Resample each key."""
        for key in self.keys:
            if results.get(key) is not None:
                results[key] = uniform_feature_sampling(
                    results[key], self.max_len)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_len={self.max_len})'


@TRANSFORMS.register_module()
class L2Normalize(BaseTransform):
    """``x / (||x|| + eps)`` on the last dim of arrays or lists of arrays.

    Args:
        keys (Sequence[str]): keys to normalise. Defaults to
            ``('video_feat', 'query_feats')``.
        eps (float): Defaults to 1e-5 (the authors' value).
    """

    def __init__(self,
                 keys: Sequence[str] = ('video_feat', 'query_feats'),
                 eps: float = 1e-5) -> None:
        self.keys = tuple(keys)
        self.eps = eps

    def transform(self, results: Dict) -> Dict:
        """Normalise each key."""
        for key in self.keys:
            value = results.get(key)
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                results[key] = [l2_normalize(v, self.eps) for v in value]
            else:
                results[key] = l2_normalize(value, self.eps)
        return results


@TRANSFORMS.register_module()
class TruncateTokens(BaseTransform):
    """Keep the first ``max_len`` tokens of every query (``max_desc_l``).

    Args:
        max_len (int): max tokens per query.
    """

    def __init__(self, max_len: int) -> None:
        if max_len < 1:
            raise ValueError(f'max_len must be >= 1, got {max_len}')
        self.max_len = max_len

    def transform(self, results: Dict) -> Dict:
        """Truncate ``query_feats``."""
        results['query_feats'] = [
            q[:self.max_len] for q in results['query_feats']
        ]
        return results


@TRANSFORMS.register_module()
class PackPRVRInputs(BaseTransform):
    """Pack a sample into ``inputs`` tensors and a ``data_samples`` element.

    ``inputs``: ``video`` (T, Dv), ``queries`` (n, Lq, Dq) zero padded,
    ``query_lengths`` (n,), and when present ``teacher_video`` (T, Dt),
    ``teacher_queries`` (n, Dt).  ``data_samples``: a
    :class:`BaseDataElement` whose metainfo holds ``video_id``,
    ``query_ids``, ``num_clips`` and, when known, ``duration`` and
    ``timestamps`` (per query ``[start, end]`` seconds).
    """

    META_KEYS = ('video_id', 'query_ids', 'duration', 'timestamps')

    def _pack_video(self, results: Dict) -> torch.Tensor:
        """(T, Dv) float32 clip features of the sample."""
        return torch.from_numpy(
            np.ascontiguousarray(results['video_feat'], np.float32))

    def transform(self, results: Dict) -> Dict:
        """Build the packed dict."""
        queries = results['query_feats']
        lengths = np.array([len(q) for q in queries], dtype=np.int64)
        padded = np.zeros((len(queries), lengths.max(), queries[0].shape[-1]),
                          dtype=np.float32)
        for i, q in enumerate(queries):
            padded[i, :len(q)] = q
        inputs = dict(
            video=self._pack_video(results),
            queries=torch.from_numpy(padded),
            query_lengths=torch.from_numpy(lengths))
        if results.get('teacher_video_feat') is not None:
            inputs['teacher_video'] = torch.from_numpy(
                np.ascontiguousarray(results['teacher_video_feat'],
                                     np.float32))
        if results.get('teacher_query_feats') is not None:
            inputs['teacher_queries'] = torch.from_numpy(
                np.stack(results['teacher_query_feats']).astype(np.float32))
        meta = {
            k: results[k]
            for k in self.META_KEYS if results.get(k) is not None
        }
        meta['num_clips'] = len(inputs['video'])
        return dict(inputs=inputs, data_samples=BaseDataElement(metainfo=meta))
