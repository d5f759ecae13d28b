"""CLIP alone as a PRVR retriever (no training): frame embeddings in, the
sentence embedding in, max over frames -- search on day one.

:class:`CLIPZeroShotRetriever` has the interface of a trained student
(``branches`` of ``encode_video`` / ``encode_query``, ``forward`` in
``'tensor'`` / ``'predict'`` mode), so ``PRVRInferencer``, the search index,
``demo/prvr_search.py``, the page and ``PRVRMetric`` use it unchanged. Its
one branch ``clip`` is the frozen CLIP itself, read from its outputs: the
video input is the CLIP frame file of ``tools/data/extract_clip_features.py``
(``(T, D)`` image embeddings) and the query input the projected per-token
features of ``OpenCLIPTextEncoder`` (or the CLIP token file), whose
end-of-text token is CLIP's sentence embedding. The scores are then CLIP's
zero-shot cosines, the max over frames and the moment (best run of frames)
computed where every model's are (``evaluation/scoring.py``,
``evaluation/moments.py``).
"""
from typing import Dict, List, Optional

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from ...errors import PRVRConfigError
from ..data_preprocessors import build_data_preprocessor

#: the branch name of the frozen CLIP (predictions ``clip_clips``, metric
#: ``prvr/clip/...``, search results ``clip_score``)
CLIP_BRANCH = 'clip'


class CLIPEmbeddingBranch(nn.Module):
    """The frozen CLIP as a branch: CLIP embeddings pass through.

    ``encode_video`` returns the frame embeddings (the cosine is taken by
    the scorers), ``encode_query`` the last valid token of each query: the
    end-of-text token, i.e. CLIP's sentence embedding, for the projected
    tokens of :class:`~prvr_mm.models.text_encoders.OpenCLIPTextEncoder`
    (a ``(1, D)`` query is that embedding already).
    """

    def encode_video(self,
                     clips: Tensor,
                     mask: Tensor,
                     exact_padding: bool = True) -> Tensor:
        """(B, L, D) frame embeddings, unchanged (padding included).

        Args:
            clips (Tensor): (B, L, D) CLIP frame embeddings.
            mask (Tensor): (B, L), 1 at valid frames (unused: padded frames
                are masked by the scorers).
            exact_padding (bool): unused (no cross-frame computation).

        Returns:
            Tensor: (B, L, D) float.
        """
        return clips.float()

    def encode_query(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """The sentence embedding of every query: its last valid token.

        Args:
            tokens (Tensor): (Nq, Lq, D) projected CLIP token features.
            mask (Tensor): (Nq, Lq), 1 at valid tokens (a prefix).

        Returns:
            Tensor: (Nq, D) float.
        """
        last = (mask.long().sum(1) - 1).clamp(min=0)
        return tokens[torch.arange(len(tokens), device=tokens.device),
                      last].float()


@MODELS.register_module()
class CLIPZeroShotRetriever(BaseModel):
    """Zero-shot PRVR with a frozen CLIP: a query's score for a video is the
    max over the video's frames of cos(frame embedding, sentence
    embedding). Nothing to train; no checkpoint.

    Args:
        embed_dim (int): CLIP embedding dimension D (512 for ViT-B/32),
            the width of the frame and token features it takes.
        data_preprocessor (dict, optional): defaults to
            ``dict(type='PRVRDataPreprocessor')``.
        init_cfg (dict, optional): initialisation config (unused).
    """

    def __init__(self,
                 embed_dim: int = 512,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=build_data_preprocessor(data_preprocessor),
            init_cfg=init_cfg)
        if embed_dim < 1:
            raise PRVRConfigError(f'embed_dim must be >= 1, got {embed_dim}')
        self.embed_dim = int(embed_dim)
        self.clip = CLIPEmbeddingBranch()

    @property
    def query_dim(self) -> int:
        """Token feature width the queries must have (D)."""
        return self.embed_dim

    @property
    def branches(self) -> Dict[str, nn.Module]:
        """``{'clip': the frozen CLIP branch}``."""
        return {CLIP_BRANCH: self.clip}

    def encode(self, inputs: Dict[str, Tensor]) -> Dict[str, dict]:
        """``{'clip': dict(clips=(B, L, D), query=(Nq, D))}``.

        Raises:
            PRVRConfigError: features of another width than ``embed_dim``.
        """
        for key in ('video', 'query'):
            if inputs[key].shape[-1] != self.embed_dim:
                raise PRVRConfigError(
                    f'CLIPZeroShotRetriever(embed_dim={self.embed_dim}) got '
                    f'{key} features of shape {tuple(inputs[key].shape)}; '
                    'expected CLIP embeddings of the same model (frame file '
                    'of extract_clip_features.py, projected CLIP tokens)')
        return {
            CLIP_BRANCH:
            dict(
                clips=self.clip.encode_video(inputs['video'],
                                             inputs['video_mask']),
                query=self.clip.encode_query(inputs['query'],
                                             inputs['query_mask']))
        }

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: :meth:`encode`; ``'predict'``: :meth:`predict`;
        ``'loss'`` is refused (there is nothing to train)."""
        if mode == 'tensor':
            return self.encode(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            raise PRVRConfigError(
                'CLIPZeroShotRetriever is not trained: use it with '
                'tools/test.py or demo/prvr_search.py (no checkpoint)')
        raise RuntimeError(f'Invalid mode "{mode}": expected predict or '
                           'tensor')

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Attach ``clip_clips`` (T_i, D) and ``clip_queries`` (n_i, D) to
        every video's sample (the fields ``PRVRMetric`` reads)."""
        enc = self.encode(inputs)[CLIP_BRANCH]
        lengths = inputs['video_mask'].sum(1).long().tolist()
        labels = inputs['query_to_video']
        counts = torch.bincount(labels, minlength=len(lengths)).tolist()
        per_video = torch.split(enc['query'][labels.argsort(stable=True)],
                                counts)
        for i, sample in enumerate(data_samples):
            sample.set_field(enc['clips'][i, :lengths[i]],
                             f'{CLIP_BRANCH}_clips')
            sample.set_field(per_video[i], f'{CLIP_BRANCH}_queries')
        return data_samples
