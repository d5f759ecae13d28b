"""Search queries to token features: a sentence through the config's text
encoder, or precomputed per-token features checked against the model.

The student's query input is per-token text features ``(L, Dq)``; a
sentence must be encoded by the encoder that produced the training query
features (the config's ``text_encoder``, see ``docs/search.md``).

A query longer than the model's ``max_desc_l`` tokens (the test pipeline's
``TruncateTokens``) is cut there, as in training; the cut is never silent:
:func:`note_truncation` puts ``query_tokens``, ``truncated_tokens`` and a
``note`` into the query's prediction.
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmaction.registry import MODELS

from ..errors import PRVRConfigError, PRVRDataError
from ..utils.hardware import autocast_context, cast_frozen

__all__ = [
    'QueryType', 'QueryTokenizer', 'describe_query', 'query_token_limit',
    'note_truncation'
]

QueryType = Union[str, np.ndarray, torch.Tensor]


def describe_query(query: QueryType) -> str:
    """The sentence, or ``'<token features (L, D)>'``."""
    if isinstance(query, str):
        return query
    return f'<token features {tuple(np.shape(query))}>'


def query_token_limit(pipeline: Sequence[dict]) -> Optional[int]:
    """The tokens a query keeps (``max_len`` of the ``TruncateTokens`` step
    of a test pipeline, the config's ``max_desc_l``), None without one."""
    for step in pipeline:
        kind = step.get('type')
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.split('.')[-1] == 'TruncateTokens':
            return int(step['max_len'])
    return None


def note_truncation(pred: Dict, num_tokens: int,
                    max_tokens: Optional[int]) -> Dict:
    """Record in a prediction that its query was cut to ``max_tokens``.

    Args:
        pred (dict): one query's prediction (modified in place).
        num_tokens (int): tokens of the encoded query, L.
        max_tokens (int, optional): tokens the model reads (None: all).

    Returns:
        dict: ``pred``; when ``num_tokens > max_tokens`` with
        ``query_tokens`` (L), ``truncated_tokens`` (L - max_tokens) and the
        sentence about it prepended to ``note``.
    """
    if max_tokens is None or num_tokens <= max_tokens:
        return pred
    cut = num_tokens - max_tokens
    text = (f'the query has {num_tokens} tokens; the model reads the first '
            f'{max_tokens} (max_desc_l), so the last {cut} were left out: '
            'shorten the query to search with all of it')
    pred['query_tokens'] = int(num_tokens)
    pred['truncated_tokens'] = int(cut)
    pred['note'] = f'{text}. {pred["note"]}' if pred.get('note') else text
    return pred


class QueryTokenizer:
    """Turn sentences and / or token features into (L, Dq) arrays.

    Args:
        query_dim (int): token feature width the student takes, Dq.
        text_encoder (dict, optional): a MODELS config whose
            ``encode(sentences)`` returns ``(feats (N, L, Dq), mask
            (N, L))``; built on first use. None refuses sentences.
        device (torch.device | str): where the encoder runs. Defaults to
            ``'cpu'``.
        config_name (str): the config (messages).
        precision (str): precision of the text encoder: ``'auto'``
            (default: bf16 where the device runs it faster), ``'fp32'`` or
            ``'bf16'`` (:func:`~prvr_mm.utils.hardware.cast_frozen`; token
            features are float32 either way).
    """

    def __init__(self,
                 query_dim: int,
                 text_encoder: Optional[dict] = None,
                 device: Union[str, torch.device] = 'cpu',
                 config_name: str = '<config>',
                 precision: str = 'auto') -> None:
        self.query_dim = int(query_dim)
        self.text_encoder_cfg = text_encoder
        self.device = device
        self.config_name = config_name
        self.precision = precision
        self._encoder: Optional[torch.nn.Module] = None

    @property
    def text_encoder(self) -> torch.nn.Module:
        """The text encoder (built on first use)."""
        if self._encoder is None:
            if not self.text_encoder_cfg:
                raise PRVRConfigError(
                    f'the config {self.config_name} has no text_encoder, so '
                    'sentences cannot be encoded; add text_encoder=dict('
                    'type=...) -- the encoder that produced the training '
                    'query features -- or search with precomputed token '
                    f'features of shape (L, {self.query_dim})')
            encoder = MODELS.build(copy.deepcopy(self.text_encoder_cfg))
            encoder = encoder.eval().requires_grad_(False).to(self.device)
            self.precision = cast_frozen(encoder, self.precision,
                                         str(self.device))
            self._encoder = encoder
        return self._encoder

    def _features(self, i: int, query) -> np.ndarray:
        feats = np.asarray(
            query.detach().cpu() if isinstance(query, torch.Tensor) else query,
            dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] == 0 or \
                feats.shape[1] != self.query_dim:
            raise PRVRDataError(
                f'query {i}: token features have shape {feats.shape}, '
                f'expected (L, {self.query_dim}) with L >= 1')
        return feats

    @torch.no_grad()
    def __call__(self,
                 queries: Sequence[QueryType],
                 first: int = 0) -> List[np.ndarray]:
        """Per-token features (L_i, Dq) of every query.

        Args:
            queries (Sequence): sentences, (L, Dq) arrays or tensors.
            first (int): number of the first query (messages).

        Returns:
            list[np.ndarray]: (L_i, Dq) float32 per query.
        """
        out: List[Optional[np.ndarray]] = [None] * len(queries)
        texts = []
        for i, query in enumerate(queries):
            if not isinstance(query, str):
                out[i] = self._features(first + i, query)
            elif not query.strip():
                raise PRVRDataError(f'query {first + i} is empty: type a '
                                    'sentence to search for')
            else:
                texts.append(i)
        if texts:
            encoder = self.text_encoder
            try:
                with autocast_context(self.precision, str(self.device)):
                    feats, mask = encoder.encode([queries[i] for i in texts])
            except ValueError as err:  # a sentence the encoder refuses
                if isinstance(err, PRVRDataError):
                    raise
                raise PRVRDataError(str(err)) from err
            feats = feats.detach().float().cpu()
            if feats.shape[-1] != self.query_dim:
                raise PRVRConfigError(
                    f'text encoder {self.text_encoder_cfg.get("type")} gives '
                    f'{feats.shape[-1]}-d token features but the model '
                    f'takes {self.query_dim}-d queries: use the encoder the '
                    'model was trained with')
            mask = mask.bool().cpu()
            for j, i in enumerate(texts):
                tokens = feats[j][mask[j]].numpy()
                if len(tokens) == 0:
                    raise PRVRDataError(f'query {first + i} ({queries[i]!r}) '
                                        'encodes to no token')
                out[i] = tokens
        return out
