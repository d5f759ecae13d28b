"""A searchable video collection in memory: per-branch clip embeddings of
every video with their time spans, ready to be ranked.

:class:`SearchIndex` is data: for every video its clip embeddings in every
student branch (L2-normalised, stored float16 by default, searched in
float32), the time span of every clip, an optional path to the raw video,
the fingerprint of the model that encoded it
(:mod:`~prvr_mm.apis.fingerprint`) and an optional faiss
:class:`~prvr_mm.apis.ClipANN`. Videos are kept in ascending order of clip
count (stable), so equally long videos are contiguous. A search reads it
and never changes it (:mod:`~prvr_mm.apis.search`); files are written and
read by :mod:`~prvr_mm.apis.index_io`.
"""
from typing import List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SearchIndexError
from ..evaluation.scoring import NORM_EPS
from .ann import ClipANN
from .fingerprint import check_fingerprint

__all__ = ['SearchIndex', 'SearchIndexError']


class SearchIndex:
    """Clip embeddings of a video collection, ready to search.

    Build it with :meth:`from_videos` (or :class:`~prvr_mm.apis.
    VideoIndexer`), save and load it with :func:`~prvr_mm.apis.save_index`
    / :func:`~prvr_mm.apis.load_index`.

    Args:
        video_ids (list[str]): (V) ids, in ascending clip-count order.
        num_clips (Tensor): (V,) clips per video (>= 1).
        clips (dict[str, Tensor]): per branch (N, H) L2-normalised clip
            embeddings, video after video (float16 or float32).
        spans (Tensor): (N, 2) start / end of every clip (seconds where
            ``timed``, else clip units).
        timed (Tensor): (V,) bool, spans in seconds.
        durations (Tensor): (V,) seconds, NaN = unknown.
        fingerprint (dict): identity of the model that built the index
            (:func:`~prvr_mm.apis.fingerprint.model_fingerprint`), with the
            fusion weights it was built under.
        video_paths (list[str], optional): raw file per video, ``''`` =
            none.
        ann (ClipANN, optional): approximate candidate index.
        source (str): where the index comes from (messages).
    """

    def __init__(self,
                 video_ids: List[str],
                 num_clips: Tensor,
                 clips: Mapping[str, Tensor],
                 spans: Tensor,
                 timed: Tensor,
                 durations: Tensor,
                 fingerprint: Mapping[str, object],
                 video_paths: Optional[List[str]] = None,
                 ann: Optional[ClipANN] = None,
                 source: str = '<memory>') -> None:
        self.source = source
        self.video_ids = list(video_ids)
        self.num_clips = num_clips.to(torch.long)
        dtypes = {c.dtype for c in clips.values()}
        if not dtypes <= {torch.float16, torch.float32}:
            raise SearchIndexError(
                f'search index {source}: clips must be float16 or float32, '
                f'got {sorted(map(str, dtypes))}')
        # stored (on disk) as given; searched in float32 (CPU GEMMs in half
        # precision are slow), contiguous (faiss reads rows in place)
        self.storage_dtype = torch.float16 if torch.float16 in dtypes \
            else torch.float32
        self.clips = {b: c.float().contiguous() for b, c in clips.items()}
        self.branches = tuple(self.clips)
        self.spans = spans.to(torch.float64)
        self.timed = timed.to(torch.bool)
        self.durations = durations.to(torch.float64)
        self.fingerprint = dict(fingerprint)
        self.video_paths = list(video_paths or [''] * len(self.video_ids))
        self._validate()
        self.offsets = torch.cat([
            torch.zeros(1, dtype=torch.long),
            torch.cumsum(self.num_clips, 0)
        ])
        self.clip_to_video = torch.repeat_interleave(
            torch.arange(len(self.video_ids)), self.num_clips)
        self.ann: Optional[ClipANN] = None
        if ann is not None:
            self.set_ann(ann)

    @classmethod
    def from_videos(cls,
                    videos: Sequence[dict],
                    fingerprint: Mapping[str, object],
                    dtype: torch.dtype = torch.float16) -> 'SearchIndex':
        """Assemble an index from encoded videos.

        Args:
            videos (list[dict]): per video ``video_id``, ``clips`` (dict
                branch -> (T, H)), ``spans`` (T, 2), ``timed`` (bool),
                ``duration`` (float or None), ``video_path`` (str or None).
            fingerprint (dict): see the class docstring.
            dtype (torch.dtype): storage dtype of the embeddings (float16
                or float32). Defaults to float16.

        Returns:
            SearchIndex: videos sorted by clip count (stable).
        """
        if not videos:
            raise SearchIndexError('cannot build an index of 0 videos')
        if dtype not in (torch.float16, torch.float32):
            raise ValueError(f'dtype must be float16 or float32, got {dtype}')
        order = sorted(
            range(len(videos)), key=lambda i: len(videos[i]['spans']))
        videos = [videos[i] for i in order]
        clips = {
            b:
            F.normalize(
                torch.cat([v['clips'][b].float() for v in videos]),
                dim=-1,
                eps=NORM_EPS).to(dtype)
            for b in videos[0]['clips']
        }
        durations = [
            float('nan') if v.get('duration') is None else v['duration']
            for v in videos
        ]
        return cls(
            video_ids=[v['video_id'] for v in videos],
            num_clips=torch.tensor([len(v['spans']) for v in videos]),
            clips=clips,
            spans=torch.cat([
                torch.as_tensor(v['spans'], dtype=torch.float64)
                for v in videos
            ]),
            timed=torch.tensor([bool(v['timed']) for v in videos]),
            durations=torch.tensor(durations, dtype=torch.float64),
            fingerprint=fingerprint,
            video_paths=[v.get('video_path') or '' for v in videos])

    def _validate(self) -> None:
        num_v, num_c = len(self.video_ids), int(self.num_clips.sum())
        where = f'search index {self.source}'
        if num_v == 0:
            raise SearchIndexError(f'{where}: holds no video')
        if len(set(self.video_ids)) != num_v:
            raise SearchIndexError(f'{where}: duplicate video ids')
        if tuple(self.num_clips.shape) != (num_v, ):
            raise SearchIndexError(
                f'{where}: num_clips has shape {tuple(self.num_clips.shape)}'
                f', expected ({num_v},)')
        if bool((self.num_clips < 1).any()):
            raise SearchIndexError(f'{where}: a video has no clip')
        if bool((self.num_clips[1:] < self.num_clips[:-1]).any()):
            raise SearchIndexError(
                f'{where}: videos are not in ascending clip-count order')
        if not self.branches:
            raise SearchIndexError(f'{where}: holds no branch')
        dims = set()
        for name, clips in self.clips.items():
            if clips.dim() != 2 or clips.shape[0] != num_c:
                raise SearchIndexError(
                    f'{where}: clips/{name} has shape {tuple(clips.shape)}, '
                    f'expected ({num_c}, H)')
            dims.add(clips.shape[1])
        if len(dims) != 1:
            raise SearchIndexError(f'{where}: branches differ in width')
        checks = [('spans', self.spans, (num_c, 2)),
                  ('timed', self.timed, (num_v, )),
                  ('durations', self.durations, (num_v, ))]
        for key, value, shape in checks:
            if tuple(value.shape) != shape:
                raise SearchIndexError(
                    f'{where}: {key} has shape {tuple(value.shape)}, '
                    f'expected {shape}')
        if len(self.video_paths) != num_v:
            raise SearchIndexError(f'{where}: video_paths has '
                                   f'{len(self.video_paths)} entries, '
                                   f'expected {num_v}')

    def set_ann(self, ann: ClipANN) -> None:
        """Attach an approximate candidate index built on these clips.

        Raises:
            SearchIndexError: the ANN holds another number of clips, or was
                built under other fusion weights than the index records.
        """
        if ann.ntotal != self.total_clips:
            raise SearchIndexError(
                f'search index {self.source}: the ANN holds {ann.ntotal} '
                f'clips, the index {self.total_clips}')
        built = self.fingerprint.get('fusion_weights')
        if built is not None:
            ann.check_weights(built)
        self.ann = ann

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def total_clips(self) -> int:
        """Number of clips of all videos (N)."""
        return int(self.offsets[-1])

    def __repr__(self) -> str:
        ann = f', ann={self.ann.factory!r}' if self.ann is not None else ''
        return (f'SearchIndex({len(self)} videos, {self.total_clips} clips, '
                f'branches={self.branches}{ann}, source={self.source!r})')

    def check_fingerprint(self, fingerprint: Mapping[str, object]) -> None:
        """Refuse a searcher with another model, pipeline or fusion weights
        (:func:`~prvr_mm.apis.fingerprint.check_fingerprint`)."""
        check_fingerprint(self.fingerprint, fingerprint, self.source)

    def moment_span(self, video: int, start: int, end: int) -> List[float]:
        """``[start of clip start, end of clip end]`` of a video."""
        base = int(self.offsets[video])
        return [
            float(self.spans[base + start, 0]),
            float(self.spans[base + end, 1])
        ]

    def clip_spans(self, video: int) -> Tensor:
        """(T, 2) spans of every clip of a video."""
        first, end = int(self.offsets[video]), int(self.offsets[video + 1])
        return self.spans[first:end]
