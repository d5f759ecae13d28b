"""Search results for people: the raw output of
:func:`~prvr_mm.apis.search.search_videos` turned into one prediction per
query (video ids, scores, the moment in seconds, the video file) and into
JSON-ready dicts.
"""
import os.path as osp
from typing import Dict, List

import numpy as np

from .search_index import SearchIndex

__all__ = ['format_predictions', 'prediction_to_dict']


def format_predictions(index: SearchIndex, result: Dict[str, object],
                       top_k: int) -> List[dict]:
    """One prediction per query of a search result.

    Args:
        index (SearchIndex): the searched index.
        result (dict): output of :func:`~prvr_mm.apis.search.search_videos`
            (q queries).
        top_k (int): the asked number of videos (for the note).

    Returns:
        list[dict]: per query ``results`` (per video ``rank``, ``video_id``,
        ``score`` (fused), ``<branch>_score``, ``clip``, ``moment``
        [start, end], ``moment_clips``, ``unit`` (``'s'`` or ``'clip'``),
        ``video_path``, ``video_available``, ``curves`` (``spans`` (T, 2)
        and per branch / ``fused`` (T,) cosines, numpy arrays)),
        ``num_videos`` and, when ``top_k`` exceeds the index, a ``note``.
    """
    curves = result['curves']
    main = 'fused' if 'fused' in curves else index.branches[0]
    rows = {
        key: value.tolist()
        for key, value in result.items() if key != 'curves'
    }
    arrays = {name: curve.numpy() for name, curve in curves.items()}
    preds = []
    for i, videos in enumerate(rows['videos']):
        items = []
        for j, v in enumerate(videos):
            if v < 0:
                continue
            start, end = rows['start'][i][j], rows['end'][i][j]
            path = index.video_paths[v] or None
            num = int(index.num_clips[v])
            item_curves = dict(spans=index.clip_spans(v).numpy())
            item_curves.update({
                name: a[i, j, :num]
                for name, a in arrays.items()
            })
            item_curves.setdefault('fused', item_curves[main])
            items.append(
                dict(
                    rank=len(items) + 1,
                    video_id=index.video_ids[v],
                    score=rows['scores'][i][j],
                    **{
                        f'{b}_score': rows[f'{b}_scores'][i][j]
                        for b in index.branches
                    },
                    clip=rows['best'][i][j],
                    moment=index.moment_span(v, start, end),
                    moment_clips=[start, end],
                    unit='s' if bool(index.timed[v]) else 'clip',
                    video_path=path,
                    video_available=bool(path and osp.exists(path)),
                    curves=item_curves))
        pred = dict(results=items, num_videos=len(index))
        if top_k > len(index):
            pred['note'] = (f'top_k={top_k} exceeds the {len(index)} videos '
                            f'of the index: all {len(index)} are ranked')
        preds.append(pred)
    return preds


def prediction_to_dict(pred: dict, with_curves: bool = False) -> dict:
    """A JSON-ready copy of a prediction (curves as lists, or left out)."""
    out = dict(pred)
    results = []
    for item in pred['results']:
        item = dict(item)
        curves = item.pop('curves', None)
        if with_curves and curves is not None:
            item['curves'] = {
                k: np.asarray(v).tolist()
                for k, v in curves.items()
            }
        results.append(item)
    out['results'] = results
    return out
