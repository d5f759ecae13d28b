"""Batches PRVR samples: pads videos, flattens queries, indexes videos."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseDataPreprocessor
from torch.nn.utils.rnn import pad_sequence

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
    ``teacher_video`` (T_i, Dt), ``teacher_queries`` (n_i, Dt).

    Output ``inputs`` dict: ``video`` (B, L, Dv), ``video_mask`` (B, L),
    ``query`` (Nq, Lq, Dq), ``query_mask`` (Nq, Lq), ``query_to_video``
    (Nq,) int64 batch index of each query's video, and when present
    ``teacher_video`` (B, L, Dt), ``teacher_query`` (Nq, Dt).  Masks are
    float, 1 = valid.

    Args:
        sort_by_queries (bool): in training, order videos by their number
            of queries, descending and stable, like the authors' collate
            (:func:`~prvr_mm.models.batch_order.collate_order`; it decides
            which rows get soft targets in DL-DKD++, see
            :mod:`prvr_mm.models.batch_order`). Defaults to True.
        non_blocking (bool): copy the batch to the device asynchronously
            (overlaps with work already queued when the loader pins its
            batches, as the tools set up on CUDA). Defaults to True.
    """

    def __init__(self,
                 sort_by_queries: bool = True,
                 non_blocking: bool = True) -> None:
        super().__init__(non_blocking=non_blocking)
        self.sort_by_queries = sort_by_queries

    def forward(self, data: dict, training: bool = False) -> dict:
        """Pad and flatten one batch; see the class docstring for shapes."""
        data = self.cast_data(data)
        inputs: Dict[str, List[torch.Tensor]] = data['inputs']
        samples: Optional[list] = data.get('data_samples')
        if isinstance(inputs, dict) and 'video_mask' in inputs:
            return data  # already batched (e.g. tensors built in a test)

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
        if 'teacher_video' in inputs:
            t_lengths = [len(v) for v in inputs['teacher_video']]
            if t_lengths != lengths.tolist():
                raise ValueError(
                    f'teacher clip counts {t_lengths} differ from student '
                    f'clip counts {lengths.tolist()}; align both to the same '
                    'number of clips in the pipeline')
            batch['teacher_video'] = pad_sequence(
                inputs['teacher_video'], batch_first=True)

        q_lengths = torch.cat(inputs['query_lengths']).to(self.device)
        max_q = int(q_lengths.max())
        batch['query'] = torch.cat([
            F.pad(q[:, :max_q], (0, 0, 0, max_q - min(q.shape[1], max_q)))
            for q in inputs['queries']
        ])
        batch['query_mask'] = _lengths_to_mask(q_lengths, max_q)
        batch['query_to_video'] = torch.repeat_interleave(
            torch.arange(len(counts), device=self.device),
            torch.tensor(counts, device=self.device))
        if 'teacher_queries' in inputs:
            batch['teacher_query'] = torch.cat(inputs['teacher_queries'])
        return dict(inputs=batch, data_samples=samples)
