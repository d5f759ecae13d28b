"""The identity of the model that encodes a search index: what an index
records of its builder, and the check that refuses another searcher.

A fingerprint holds hashes of the model weights and of the test pipeline,
the branch names, the fusion weights the index (and its ANN) were built
under -- the evaluator's (:meth:`PRVRMetric.from_config
<prvr_mm.evaluation.PRVRMetric.from_config>`), recorded here only to refuse
a mismatch -- and, for messages, the config and checkpoint names.
"""
import hashlib
import json
from typing import Dict, Mapping, Optional, Sequence

import torch

from ..errors import SearchIndexError

__all__ = ['model_fingerprint', 'check_fingerprint']

# keys that identify the encoder; a difference means another model
_MODEL_KEYS = ('weights', 'pipeline', 'branches')


def _weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        value = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{key}:{value.dtype}:{value.numel()};'.encode())
        digest.update(value.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:20]


def model_fingerprint(model: torch.nn.Module,
                      pipeline: Sequence[dict],
                      fusion_weights: Mapping[str, float],
                      config: Optional[str] = None,
                      checkpoint: Optional[str] = None) -> Dict[str, object]:
    """The fingerprint of a model, its test pipeline and fusion weights.

    Args:
        model (nn.Module): the student (its ``branches`` and weights).
        pipeline (Sequence[dict]): the config's test pipeline.
        fusion_weights (dict[str, float]): the evaluator's weight of every
            branch.
        config (str, optional): config name (messages only).
        checkpoint (str, optional): checkpoint name (messages only).

    Returns:
        dict: ``weights`` and ``pipeline`` (20-hex hashes), ``branches``
        (comma-joined), ``fusion_weights`` (dict), ``config``,
        ``checkpoint``.
    """
    text = json.dumps(list(pipeline), sort_keys=True, default=str)
    return dict(
        weights=_weights_hash(model),
        pipeline=hashlib.sha256(text.encode()).hexdigest()[:20],
        branches=','.join(model.branches),
        fusion_weights={
            b: float(w)
            for b, w in fusion_weights.items()
        },
        config=str(config),
        checkpoint=str(checkpoint))


def check_fingerprint(built: Mapping[str, object],
                      searcher: Mapping[str, object],
                      source: str = '<memory>') -> None:
    """Refuse an index built by another model, pipeline or fusion weights.

    Args:
        built (dict): the fingerprint recorded in the index.
        searcher (dict): the fingerprint of the searching model.
        source (str): the index file (messages).

    Raises:
        SearchIndexError: naming what differs, both values and the fix.
    """
    for key in _MODEL_KEYS:
        mine, theirs = built.get(key), searcher.get(key)
        if mine != theirs:
            raise SearchIndexError(
                f'search index {source} was built by another model ({key} '
                f'differ: index {mine!r}, model {theirs!r}); the index was '
                f'built with config {built.get("config")!r} and checkpoint '
                f'{built.get("checkpoint")!r}. Rebuild it with this model '
                '(PRVRInferencer.index / demo/prvr_search.py --build-index).')
    mine, theirs = built.get('fusion_weights'), searcher.get('fusion_weights')
    if theirs is not None and mine != theirs:
        raise SearchIndexError(
            f'search index {source} was built under fusion weights {mine}, '
            f'the config\'s test_evaluator gives {theirs}: set the '
            'evaluator back (e.g. --cfg-options '
            'test_evaluator.fusion_weight=W) or rebuild the index under '
            'the config\'s weights (demo/prvr_search.py --build-index).')
