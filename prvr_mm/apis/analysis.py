"""Analysis of a trained PRVR model on a split: embed it, and look at one
query's similarity over time.

The plot tool (``tools/analysis/plot_similarity.py``) uses it, and takes the
fusion weights of a config from its evaluator
(:meth:`PRVRMetric.from_config <prvr_mm.evaluation.PRVRMetric.from_config>`);
the model comes from :func:`~prvr_mm.apis.init_model`.

1. :func:`encode_split` runs a model over a dataset (like the test loop) and
   keeps, per video, the clip and query embeddings of every branch (what
   :class:`PRVRMetric` receives) and, when the dataset has them, the raw
   teacher (CLIP) clip and query features;
2. :func:`query_curves` ranks every video for one query (max over clips,
   fused ``w * inher + (1 - w) * explore``, as :class:`PRVRMetric`) and
   returns the cosine per clip of every branch (plus the fused and teacher
   curves) in the ground-truth video and in the top retrieved videos.

Clip ``i`` of ``T`` clips covers ``[i / T, (i + 1) / T]`` of the video
(:func:`prvr_mm.evaluation.rankings.clip_edges`).
"""
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from ..evaluation.rankings import clip_edges
from ..evaluation.scoring import NORM_EPS, fuse, max_over_clips

__all__ = ['clip_cosines', 'encode_split', 'query_curves']

_TEACHER_KEYS = ('teacher_video', 'teacher_queries')


def clip_cosines(query: Tensor, clips: Tensor) -> np.ndarray:
    """Cosine similarity of a query to every clip.

    Uses ``F.normalize(eps=1e-12)`` on both sides, as
    :func:`~prvr_mm.evaluation.scoring.max_over_clips`, so the max of
    the curve is the video's branch score.

    Args:
        query (Tensor): (H,) query vector.
        clips (Tensor): (T, H) clip vectors.

    Returns:
        np.ndarray: (T,) float32 cosines.
    """
    query = F.normalize(query.float(), dim=-1, eps=NORM_EPS)
    clips = F.normalize(clips.float(), dim=-1, eps=NORM_EPS)
    return (clips @ query).numpy()


@torch.no_grad()
def encode_split(model: torch.nn.Module,
                 dataset,
                 batch_size: int = 32,
                 indices: Optional[Sequence[int]] = None) -> List[dict]:
    """Embed every video (and its queries) of a dataset with a model.

    The samples go through the dataset pipeline, the model's data
    preprocessor and ``model.predict`` as in the test loop. Teacher inputs
    (``teacher_video``, ``teacher_queries``) are taken out before the
    preprocessor (they need not be aligned with the student clips here)
    and kept raw.

    Args:
        model (nn.Module): a :class:`DualStudentRecognizer` (put in eval
            mode here).
        dataset: a :class:`PRVRFeatureDataset`.
        batch_size (int): videos per forward pass. Defaults to 32.
        indices (Sequence[int], optional): the items to encode (default:
            all, in dataset order).

    Returns:
        list[dict]: per video ``video_id``, ``query_ids``, ``duration`` and
        ``timestamps`` (None when unknown), ``{branch}_clips`` (T, H),
        ``{branch}_queries`` (n, H) and, when the dataset has teacher
        features, ``teacher_clips`` (Tt, Dt) and ``teacher_queries``
        (n, Dt).
    """
    model.eval()
    indices = list(range(len(dataset))) if indices is None else list(indices)
    branches = list(model.branches)
    out = []
    for start in range(0, len(indices), batch_size):
        items = [dataset[i] for i in indices[start:start + batch_size]]
        teacher = [{
            k: item['inputs'].pop(k, None)
            for k in _TEACHER_KEYS
        } for item in items]
        data = model.data_preprocessor(pseudo_collate(items), False)
        samples = model.predict(data['inputs'], data['data_samples'])
        for sample, extra in zip(samples, teacher):
            entry = dict(
                video_id=sample.video_id,
                query_ids=list(sample.query_ids),
                duration=sample.get('duration'),
                timestamps=sample.get('timestamps'))
            for name in branches:
                entry[f'{name}_clips'] = sample.get(f'{name}_clips').cpu()
                entry[f'{name}_queries'] = sample.get(f'{name}_queries').cpu()
            if extra['teacher_video'] is not None and \
                    extra['teacher_queries'] is not None:
                entry['teacher_clips'] = extra['teacher_video'].float()
                entry['teacher_queries'] = extra['teacher_queries'].float()
            out.append(entry)
    return out


def _video_scores(encoded: List[dict], branch: str, query: Tensor) -> Tensor:
    """(V,) max-over-clips cosine of one query to every encoded video."""
    clips = [e[f'{branch}_clips'] for e in encoded]
    lengths = torch.tensor([len(c) for c in clips])
    mask = torch.arange(int(lengths.max()))[None] < lengths[:, None]
    return max_over_clips(
        query[None], pad_sequence(clips, batch_first=True), mask,
        device='cpu')[0]


def _find_query(encoded: List[dict], query_id: str) -> Tuple[int, int]:
    for v, entry in enumerate(encoded):
        if query_id in entry['query_ids']:
            return v, entry['query_ids'].index(query_id)
    raise KeyError(f'query {query_id!r} is not in the encoded split')


def query_curves(encoded: List[dict],
                 query_id: str,
                 weights: Mapping[str, float],
                 topk: int = 3) -> dict:
    """Per-clip similarity of one query in its ground-truth video and in
    its top retrieved videos.

    Videos are ranked by the fused max-over-clips cosines
    (:func:`~prvr_mm.evaluation.scoring.fuse`), exactly as
    :class:`PRVRMetric` ranks them.

    Args:
        encoded (list[dict]): output of :func:`encode_split`.
        query_id (str): the query (``cap_id``).
        weights (dict[str, float]): fusion weight of every branch (the
            config's, ``PRVRMetric.from_config(cfg).fusion_weights``).
        topk (int): retrieved videos besides the ground truth. Defaults
            to 3.

    Returns:
        dict: ``query_id``, ``gt_video``, ``gt_rank`` (1-based, ties
        counted optimistically as in :func:`gt_ranks`), ``timestamps`` (the
        query's ``[start, end]`` seconds or None), ``has_teacher`` and
        ``panels``: the ground-truth video first, then the ``topk`` best
        ranked other videos, each a dict with ``video_id``, ``rank``,
        ``is_gt``, ``score`` (fused), ``scores`` (per branch, max over
        clips), ``duration``, ``unit`` (``'s'`` or ``'clip'``), ``edges``
        (T + 1,), ``curves`` (per branch and ``'fused'``: (T,) cosines per
        clip), ``best_clip`` (argmax of the fused curve) and, when teacher
        features exist, ``teacher_edges`` (Tt + 1,) and ``curves['teacher']``
        (Tt,).
    """
    missing = [b for b in weights if f'{b}_clips' not in encoded[0]]
    if missing:
        raise ValueError(f'the encoded split has no branch {missing}')
    branches = list(weights)
    v_gt, q_in = _find_query(encoded, query_id)
    queries = {b: encoded[v_gt][f'{b}_queries'][q_in] for b in branches}
    per_branch = {b: _video_scores(encoded, b, queries[b]) for b in branches}
    fused = fuse(per_branch, weights)
    gt_rank = int((fused > fused[v_gt]).sum()) + 1
    order = torch.argsort(fused, descending=True, stable=True).tolist()
    others = [v for v in order if v != v_gt][:topk]
    ranks = {v: r + 1 for r, v in enumerate(order)}
    ranks[v_gt] = gt_rank

    stamps = encoded[v_gt].get('timestamps')
    has_teacher = all('teacher_clips' in e for e in encoded)
    panels = []
    for v in [v_gt] + others:
        entry = encoded[v]
        curves = {
            b: clip_cosines(queries[b], entry[f'{b}_clips'])
            for b in branches
        }
        curves['fused'] = fuse(
            {
                b: torch.from_numpy(c)
                for b, c in curves.items()
            }, weights).numpy()
        edges, unit = clip_edges(
            len(curves[branches[0]]), entry.get('duration'))
        panel = dict(
            video_id=entry['video_id'],
            rank=ranks[v],
            is_gt=v == v_gt,
            score=float(fused[v]),
            scores={b: float(per_branch[b][v])
                    for b in branches},
            duration=entry.get('duration'),
            unit=unit,
            edges=edges,
            curves=curves,
            best_clip=int(np.argmax(curves['fused'])))
        if has_teacher:
            t_query = encoded[v_gt]['teacher_queries'][q_in]
            curves['teacher'] = clip_cosines(t_query, entry['teacher_clips'])
            panel['teacher_edges'] = clip_edges(
                len(curves['teacher']), entry.get('duration'))[0]
        panels.append(panel)
    return dict(
        query_id=query_id,
        gt_video=encoded[v_gt]['video_id'],
        gt_rank=gt_rank,
        timestamps=None
        if stamps is None else [float(t) for t in stamps[q_in]],
        has_teacher=has_teacher,
        panels=panels)
