"""CLIP teacher: frame-level and max query-video scores for distillation."""
from typing import Dict, Optional, Sequence, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..similarity import clip_scores


@MODELS.register_module()
class CLIPTeacherHead(BaseModule):
    """Scores queries against video frames with (frozen) CLIP features.

    The teacher works on precomputed CLIP features (``teacher_video``
    (B, L, Dt) frame features and ``teacher_query`` (Nq, Dt) sentence
    features, the MS-SL/DL-DKD layout).  Optionally it holds a real frozen
    ``open_clip`` model to encode raw frames and sentences
    (:meth:`encode_frames`, :meth:`encode_text`); that model is kept out of
    the module tree so that it is never trained, never put in train mode and
    never written into checkpoints (ViT-B/32 is ~600 MB).

    Args:
        feature_dim (int): CLIP embedding dim ``Dt``. Defaults to 512.
        clip_model (dict, optional): ``dict(model_name='ViT-B-32',
            pretrained='openai' | '/path/to/weights.pt' | None)`` passed to
            ``open_clip.create_model``; or ``dict(model_cfg=dict(...))`` to
            build ``open_clip.model.CLIP(**model_cfg)`` directly (small test
            models). ``None`` (default) = precomputed features only.
        init_cfg (dict, optional): unused, for the BaseModule API.
    """

    def __init__(self,
                 feature_dim: int = 512,
                 clip_model: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feature_dim = feature_dim
        clip = self._build_clip(clip_model) if clip_model else None
        object.__setattr__(self, '_clip', clip)  # not a submodule on purpose

    @staticmethod
    def _build_clip(cfg: dict) -> torch.nn.Module:
        import open_clip
        cfg = dict(cfg)
        if 'model_cfg' in cfg:
            model = open_clip.model.CLIP(**cfg.pop('model_cfg'))
        else:
            name = cfg.pop('model_name', 'ViT-B-32')
            model = open_clip.create_model(name, **cfg)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    @property
    def clip_model(self) -> Optional[torch.nn.Module]:
        """The frozen open_clip model, or ``None``."""
        return self._clip

    def _apply(self, fn, *args, **kwargs):
        # move the frozen CLIP model with the head (.to(), .cuda(), .half())
        if self._clip is not None:
            self._clip._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def _check_dim(self, feats: torch.Tensor, what: str) -> None:
        if feats.shape[-1] != self.feature_dim:
            raise ValueError(
                f'teacher {what} features have dim {feats.shape[-1]} '
                f'(shape {tuple(feats.shape)}), expected feature_dim='
                f'{self.feature_dim}')

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode raw frames with the CLIP image tower.

        Args:
            frames (Tensor): (B, T, 3, S, S) preprocessed frames.

        Returns:
            Tensor: (B, T, Dt) unnormalised frame embeddings.
        """
        if self._clip is None:
            raise RuntimeError('CLIPTeacherHead was built without clip_model')
        b, t = frames.shape[:2]
        feats = self._clip.encode_image(frames.flatten(0, 1))
        return feats.view(b, t, -1).float()

    @torch.no_grad()
    def encode_text(self, texts: Union[Sequence[str],
                                       torch.Tensor]) -> torch.Tensor:
        """Encode sentences with the CLIP text tower.

        Args:
            texts (list[str] | Tensor): sentences, or (N, ctx) token ids.

        Returns:
            Tensor: (N, Dt) unnormalised sentence embeddings.
        """
        if self._clip is None:
            raise RuntimeError('CLIPTeacherHead was built without clip_model')
        if not isinstance(texts, torch.Tensor):
            import open_clip
            ctx = getattr(self._clip, 'context_length', 77)
            texts = open_clip.tokenize(list(texts), context_length=ctx)
        if texts.numel() and int(texts.max()) >= self._clip.vocab_size:
            raise ValueError(
                f'token id {int(texts.max())} is outside the CLIP text '
                f'tower\'s vocabulary of {self._clip.vocab_size} tokens: the '
                'model must use the tokenizer\'s vocabulary (49408 for '
                'ViT-B-32)')
        device = next(self._clip.parameters()).device
        return self._clip.encode_text(texts.to(device)).float()

    def train(self, mode: bool = True) -> 'CLIPTeacherHead':
        """Keep the frozen CLIP model in eval mode whatever ``mode`` is."""
        super().train(mode)
        if self._clip is not None:
            self._clip.eval()
        return self

    @torch.no_grad()
    def forward(self, teacher_video: torch.Tensor, teacher_query: torch.Tensor,
                video_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Teacher scores of every query against every video of the batch.

        Args:
            teacher_video (Tensor): (B, L, Dt) frame features (raw).
            teacher_query (Tensor): (Nq, Dt) sentence features (raw).
            video_mask (Tensor): (B, L) student clip mask (teacher and student
                clips are aligned one to one).

        Returns:
            dict: ``clip_scores`` (Nq, L, B) cosine per clip, ``max_scores``
            (Nq, B) cosine max over clips, ``max_scores_unnorm`` (Nq, B) raw
            dot product max over clips.
        """
        self._check_dim(teacher_video, 'video')
        self._check_dim(teacher_query, 'query')
        if teacher_video.shape[:2] != video_mask.shape:
            raise ValueError(
                f'teacher video features {tuple(teacher_video.shape)} are not '
                f'aligned with the student clip mask {tuple(video_mask.shape)}'
            )
        scores = clip_scores(  # one product for cosine and raw scores
            teacher_query,
            teacher_video,
            video_mask,
            with_clip_cos=True)
        return dict(
            clip_scores=scores.clip_cos,
            max_scores=scores.cos_max,
            max_scores_unnorm=scores.raw_max)
