"""Batches PRVR samples: pads videos, flattens queries, indexes videos."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseDataPreprocessor
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from ...datasets.collate import ITEM_SIZES
from ...errors import PRVRConfigError, PRVRDataError
from ..batch_order import collate_order


def _lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return (torch.arange(max_len, device=lengths.device)[None]
            < lengths[:, None]).float()


@MODELS.register_module()
class PRVRDataPreprocessor(BaseDataPreprocessor):
    """Turns a list of per-video samples into padded batch tensors.

    Input (``pseudo_collate`` of :class:`PackPRVRInputs` outputs):
    ``inputs`` a dict of lists with, per video ``i``, ``video`` (T_i, Dv),
    ``queries`` (n_i, Lq_i, Dq), ``query_lengths`` (n_i,) and optionally
    ``teacher_video`` (T_i, Dt), ``teacher_queries`` (n_i, Dt).  Raw-video
    samples (:class:`PackPRVRRawInputs`) carry ``video`` (T_i, C, T, H, W)
    uint8 clips instead, and optionally ``teacher_frames`` (T_i, 3, S, S)
    uint8 for the online teacher, whose sentences are the data samples'
    ``sentences``.  :func:`~prvr_mm.datasets.collate.prvr_collate` batches
    (one tensor per key, rows of the samples one after the other, and
    ``item_sizes``) are split back into those per-video views first.

    Output ``inputs`` dict: ``video`` (B, L, Dv), ``video_mask`` (B, L),
    ``query`` (Nq, Lq, Dq), ``query_mask`` (Nq, Lq), ``query_to_video``
    (Nq,) int64 batch index of each query's video, and when present
    ``teacher_video`` (B, L, Dt), ``teacher_query`` (Nq, Dt) (outside
    training the teacher may keep its own frame count: ``teacher_video``
    (B, Lt, Dt) with ``teacher_video_mask`` (B, Lt)).  Masks are
    float, 1 = valid.  Raw clips become ``video`` (B, L, C, T, H, W) float,
    ``(x - mean) / std`` per channel as mmaction2's
    ``ActionDataPreprocessor``; ``teacher_frames`` (B, L, 3, S, S) stay uint8
    (the teacher applies CLIP's own mean/std) and ``teacher_text`` becomes
    the Nq sentences in query order.

    Args:
        sort_by_queries (bool): in training, order videos by their number
            of queries, descending and stable, like the authors' collate
            (:func:`~prvr_mm.models.batch_order.collate_order`; it decides
            which rows get soft targets in DL-DKD++, see
            :mod:`prvr_mm.models.batch_order`). Defaults to True.
        mean (Sequence[float], optional): per-channel mean of raw clips
            (0-255 scale), e.g. ``[123.675, 116.28, 103.53]``. Defaults to
            None (no normalisation, clips only cast to float).
        std (Sequence[float], optional): per-channel std of raw clips,
            e.g. ``[58.395, 57.12, 57.375]``. Defaults to None.
        non_blocking (bool): copy the batch to the device asynchronously
            (overlaps with work already queued when the loader pins its
            batches, as the tools set up on CUDA). Defaults to True.
    """

    def __init__(self,
                 sort_by_queries: bool = True,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 non_blocking: bool = True) -> None:
        super().__init__(non_blocking=non_blocking)
        self.sort_by_queries = sort_by_queries
        if (mean is None) != (std is None):
            raise PRVRConfigError('mean and std must be given together, got '
                                  f'mean={mean}, std={std}')
        self.normalize = mean is not None
        if self.normalize:
            # (C, 1, 1, 1): channel dim of (..., C, T, H, W) clips
            self.register_buffer(
                'mean',
                torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1),
                False)
            self.register_buffer(
                'std',
                torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1),
                False)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Pad and flatten one batch; see the class docstring for shapes."""
        data = self.cast_data(data)
        inputs: Dict[str, List[torch.Tensor]] = data['inputs']
        samples: Optional[list] = data.get('data_samples')
        if isinstance(inputs, dict) and 'video_mask' in inputs:
            return data  # already batched (e.g. tensors built in a test)
        sizes = data.get(ITEM_SIZES)
        if sizes is not None:  # prvr_collate: one tensor per key -> views
            inputs = {
                k: list(torch.split(v, sizes[k]))
                for k, v in inputs.items()
            }

        counts = [len(q) for q in inputs['query_lengths']]
        if training and self.sort_by_queries:
            order = collate_order(counts)  # the DL-DKD++ soft-row contract
            inputs = {k: [v[i] for i in order] for k, v in inputs.items()}
            if samples is not None:
                samples = [samples[i] for i in order]
            counts = [counts[i] for i in order]

        videos = inputs['video']
        lengths = torch.tensor([len(v) for v in videos], device=self.device)
        batch = dict(
            video=pad_sequence(videos, batch_first=True),
            video_mask=_lengths_to_mask(lengths, int(lengths.max())))
        if batch['video'].dim() > 3:  # raw clips (B, L, C, T, H, W)
            batch['video'] = self._normalize_clips(batch['video'])
        if 'teacher_frames' in inputs:
            t_lengths = [len(v) for v in inputs['teacher_frames']]
            if t_lengths != lengths.tolist():
                raise PRVRDataError(
                    f'teacher frame counts {t_lengths} differ from student '
                    f'clip counts {lengths.tolist()}; CLIPTeacherFrames '
                    'takes one frame per sampled clip')
            batch['teacher_frames'] = pad_sequence(
                inputs['teacher_frames'], batch_first=True)
            if samples is None or any('sentences' not in s for s in samples):
                raise PRVRConfigError(
                    'teacher_frames need the caption strings of every '
                    'video in data_samples[i].sentences (PackPRVRRawInputs)')
            batch['teacher_text'] = [
                s for sample in samples for s in sample.sentences
            ]
        if 'teacher_video' in inputs:
            t_lengths = [len(v) for v in inputs['teacher_video']]
            if not training and t_lengths != lengths.tolist():
                # evaluation: the teacher's own frames (PRVRMetric's
                # clip_zeroshot row), not aligned with the student's clips
                batch['teacher_video_mask'] = _lengths_to_mask(
                    torch.tensor(t_lengths, device=self.device),
                    max(t_lengths))
            elif t_lengths != lengths.tolist():
                raise PRVRDataError(
                    f'teacher clip counts {t_lengths} differ from student '
                    f'clip counts {lengths.tolist()}; align both to the same '
                    'number of clips in the pipeline')
            batch['teacher_video'] = pad_sequence(
                inputs['teacher_video'], batch_first=True)

        q_lengths = torch.cat(inputs['query_lengths']).to(self.device)
        max_q = int(q_lengths.max())
        batch['query'] = torch.cat([
            q if q.shape[1] == max_q else F.pad(q[:, :max_q],
                                                (0, 0, 0, max_q -
                                                 min(q.shape[1], max_q)))
            for q in inputs['queries']
        ])
        batch['query_mask'] = _lengths_to_mask(q_lengths, max_q)
        batch['query_to_video'] = torch.repeat_interleave(
            torch.arange(len(counts), device=self.device),
            torch.tensor(counts, device=self.device))
        if 'teacher_queries' in inputs:
            batch['teacher_query'] = torch.cat(inputs['teacher_queries'])
        return dict(inputs=batch, data_samples=samples)

    def _normalize_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, L, C, T, H, W) uint8 -> float, ``(x - mean) / std``."""
        if clips.dim() != 6:
            raise PRVRConfigError(
                f'raw clips of shape {tuple(clips.shape)}; expected '
                '(B, L, C, T, H, W) from PackPRVRRawInputs')
        clips = clips.float()
        if self.normalize:
            if clips.shape[2] != self.mean.shape[0]:
                raise PRVRConfigError(
                    f'clips have {clips.shape[2]} channels '
                    f'(shape {tuple(clips.shape)}) but mean/std have '
                    f'{self.mean.shape[0]}')
            clips.sub_(self.mean).div_(self.std)  # in place: clips are big
        return clips


def build_data_preprocessor(cfg: Optional[Union[dict, nn.Module]] = None
                            ) -> nn.Module:
    """The data preprocessor of a PRVR model: ``cfg`` built in the
    mmaction scope (a :class:`PRVRDataPreprocessor` when None; a module is
    returned as is), before ``BaseModel.__init__`` (which would build it
    in MMEngine's scope).

    Args:
        cfg (dict | nn.Module, optional): the model's
            ``data_preprocessor``.

    Returns:
        nn.Module: the preprocessor.
    """
    if cfg is None:
        cfg = dict(type='PRVRDataPreprocessor')
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg
