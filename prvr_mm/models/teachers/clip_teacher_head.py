"""CLIP teacher: frame-level and max query-video scores for distillation."""
import copy
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ...datasets.feature_spec import check_files
from ...errors import PRVRConfigError
from ...utils.hardware import PRECISIONS, autocast_context, cast_frozen
from ..similarity import clip_scores
from .open_clip_utils import build_clip


def _pair(size) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


@MODELS.register_module()
class CLIPTeacherHead(BaseModule):
    """Scores queries against video frames with (frozen) CLIP features.

    Two modes give the same outputs, so the losses do not care which one
    fed them:

    - *precomputed*: ``teacher_video`` (B, L, Dt) frame features and
      ``teacher_query`` (Nq, Dt) sentence features read from the MS-SL/DL-DKD
      teacher files;
    - *online*: with ``clip_model``, a frozen ``open_clip`` model encodes the
      raw frames (``teacher_frames`` (B, L, 3, S, S) uint8, resized and
      cropped by :class:`CLIPTeacherFrames` with the same ``clip_model``)
      and the caption strings (``teacher_text``, Nq sentences, tokenized
      with ``open_clip.get_tokenizer``) inside the training step.

    The open_clip model is kept out of the module tree, so that it is never
    trained, never put in train mode and never written into checkpoints
    (ViT-B/32 is ~600 MB); it follows the head across ``.to()``. It is built
    (weights loaded) the first time it is needed, so evaluation and
    inference never load it; random weights (``model_cfg`` or no
    ``pretrained``) are drawn from a fixed seed, the same on every rank.

    Args:
        feature_dim (int): CLIP embedding dim ``Dt``. Defaults to 512.
        clip_model (dict, optional): the open_clip model, see
            :mod:`prvr_mm.models.teachers.open_clip_utils`: e.g.
            ``dict(model_name='ViT-B-32-quickgelu', pretrained='openai')``
            (or ``pretrained='/path/to/weights.bin'``), or
            ``dict(model_cfg=dict(...))`` for a randomly initialised
            ``open_clip.model.CLIP``. ``None`` (default) = precomputed
            features only.
        spec_files (Sequence[str]): CLIP feature files (teacher files)
            that must have been extracted with ``clip_model``: checked, the
            weights hash included, when the model is built
            (:mod:`prvr_mm.datasets.feature_spec`). Defaults to none.
        precision (str): precision of the online CLIP towers: ``'auto'``
            (default: bf16 where the device runs it faster, see
            :func:`~prvr_mm.utils.hardware.resolve_precision`), ``'fp32'``
            or ``'bf16'`` (weights cast once, autocast; features float32).
            An outer autocast (``--amp``) does not change it.
        init_cfg (dict, optional): unused, for the BaseModule API.
    """

    def __init__(self,
                 feature_dim: int = 512,
                 clip_model: Optional[dict] = None,
                 spec_files: Sequence[str] = (),
                 precision: str = 'auto',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if precision not in PRECISIONS:
            raise PRVRConfigError(f'teacher precision must be one of '
                                  f'{PRECISIONS}, got {precision!r}')
        self.precision = precision
        self.feature_dim = feature_dim
        self.clip_cfg = copy.deepcopy(clip_model) if clip_model else None
        self.spec_files = list(spec_files)
        # not a submodule on purpose (never trained, never saved)
        object.__setattr__(self, '_clip', None)
        self._tokenizer: Optional[Callable] = None
        self._preprocess_cfg: Optional[dict] = None
        # follows .to()/.cuda() so that the model is built on the device
        self.register_buffer('_device_anchor', torch.empty(0), False)

    @property
    def clip_model(self) -> Optional[torch.nn.Module]:
        """The frozen open_clip model (built on first access), or ``None``
        without ``clip_model``."""
        if self._clip is None and self.clip_cfg is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                bundle = build_clip(self.clip_cfg)
            clip = bundle.model
            check_files([(p, 'teacher features') for p in self.spec_files],
                        self.clip_cfg,
                        model=clip,
                        against="the teacher's clip_model is")
            self._tokenizer = bundle.tokenizer
            self._preprocess_cfg = bundle.preprocess_cfg
            clip.to(self._device_anchor.device)
            # resolved once, with the model: 'fp32' or 'bf16'
            self.precision = cast_frozen(clip, self.precision,
                                         str(self._device_anchor.device))
            object.__setattr__(self, '_clip', clip)
        return self._clip

    @property
    def tokenizer(self) -> Callable:
        """``open_clip.get_tokenizer`` of the model (builds it)."""
        self._require_clip()
        return self._tokenizer

    @property
    def preprocess_cfg(self) -> dict:
        """The model's ``visual.preprocess_cfg`` (builds it)."""
        self._require_clip()
        return self._preprocess_cfg

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

    def _require_clip(self) -> torch.nn.Module:
        clip = self.clip_model
        if clip is None:
            raise RuntimeError(
                'CLIPTeacherHead was built without clip_model: it cannot '
                'encode frames or sentences (set teacher=dict(clip_model=...)'
                ' or give precomputed teacher features)')
        return clip

    def normalize_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames -> CLIP input: ``x / 255``, then the model's own
        ``(x - mean) / std`` (``model.visual.preprocess_cfg``).

        Args:
            frames (Tensor): (..., 3, S, S) uint8, already resized and
                cropped to the model's image size.

        Returns:
            Tensor: (..., 3, S, S) float32.
        """
        self._require_clip()
        size = _pair(self.preprocess_cfg['size'])
        if frames.dtype != torch.uint8 or tuple(
                frames.shape[-3:]) != (3, ) + size:
            raise ValueError(
                f'teacher frames have shape {tuple(frames.shape)} and dtype '
                f'{frames.dtype}; expected (..., 3, {size[0]}, {size[1]}) '
                'uint8 (CLIPTeacherFrames with the same clip_model as the '
                'teacher)')
        mean = frames.new_tensor(
            self.preprocess_cfg['mean'], dtype=torch.float32).view(3, 1, 1)
        std = frames.new_tensor(
            self.preprocess_cfg['std'], dtype=torch.float32).view(3, 1, 1)
        return (frames.float().div(255) - mean) / std

    @torch.no_grad()
    def encode_frames(self,
                      frames: torch.Tensor,
                      mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode frames with the CLIP image tower.

        Args:
            frames (Tensor): (B, T, 3, S, S) frames: uint8 (normalised here
                with :meth:`normalize_frames`) or float (already
                preprocessed).
            mask (Tensor, optional): (B, T), 1 = valid; only valid frames
                are encoded, padded ones get zeros.

        Returns:
            Tensor: (B, T, Dt) unnormalised frame embeddings.
        """
        clip = self._require_clip()
        b, t = frames.shape[:2]
        valid = torch.ones(b, t, dtype=torch.bool, device=frames.device) \
            if mask is None else mask.bool()
        picked = frames[valid]
        if picked.dtype == torch.uint8:
            picked = self.normalize_frames(picked)
        with autocast_context(self.precision, str(picked.device)):
            feats = clip.encode_image(picked).float()
        out = feats.new_zeros(b, t, feats.shape[-1])
        out[valid] = feats
        return out

    @torch.no_grad()
    def encode_text(self, texts: Union[Sequence[str],
                                       torch.Tensor]) -> torch.Tensor:
        """Encode sentences with the CLIP text tower.

        Args:
            texts (list[str] | Tensor): sentences (tokenized with the
                model's ``open_clip`` tokenizer), or (N, ctx) token ids.

        Returns:
            Tensor: (N, Dt) unnormalised sentence embeddings.
        """
        clip = self._require_clip()
        if not isinstance(texts, torch.Tensor):
            texts = self.tokenizer(list(texts))
        if texts.numel() and int(texts.max()) >= clip.vocab_size:
            raise ValueError(
                f'token id {int(texts.max())} is outside the CLIP text '
                f'tower\'s vocabulary of {clip.vocab_size} tokens: the '
                'model must use the tokenizer\'s vocabulary (49408 for '
                'ViT-B-32)')
        device = next(clip.parameters()).device
        with autocast_context(self.precision, str(device)):
            return clip.encode_text(texts.to(device)).float()

    def teacher_features(
        self, inputs: Dict[str, torch.Tensor]
    ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """The teacher's frame and sentence features of a batch.

        Args:
            inputs (dict): batch of :class:`PRVRDataPreprocessor`: either
                ``teacher_video`` (B, L, Dt) + ``teacher_query`` (Nq, Dt)
                (precomputed), or ``teacher_frames`` (B, L, 3, S, S) +
                ``teacher_text`` (Nq sentences) with ``video_mask`` (B, L)
                (online; needs ``clip_model``).

        Returns:
            tuple | None: ``(video (B, L, Dt), query (Nq, Dt))``, or None
            when the batch carries no teacher input.
        """
        if 'teacher_video' in inputs and 'teacher_query' in inputs:
            return inputs['teacher_video'], inputs['teacher_query']
        if 'teacher_frames' in inputs and 'teacher_text' in inputs:
            video = self.encode_frames(inputs['teacher_frames'],
                                       inputs.get('video_mask'))
            return video, self.encode_text(inputs['teacher_text'])
        return None

    def train(self, mode: bool = True) -> 'CLIPTeacherHead':
        """Keep the frozen CLIP model in eval mode whatever ``mode`` is."""
        super().train(mode)
        if self._clip is not None:
            self._clip.eval()
        return self

    @torch.no_grad()
    def forward(self,
                teacher_video: torch.Tensor,
                teacher_query: torch.Tensor,
                video_mask: torch.Tensor,
                query_to_video: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
        """Teacher scores of every query against every video of the batch.

        Args:
            teacher_video (Tensor): (B, L, Dt) frame features (raw).
            teacher_query (Tensor): (Nq, Dt) sentence features (raw).
            video_mask (Tensor): (B, L) student clip mask (teacher and student
                clips are aligned one to one).
            query_to_video (Tensor, optional): (Nq,) video of each query:
                when given, only the per-clip cosines of each query's own
                video are returned (what the frame-level KL uses), as
                ``pos_clip_scores``, instead of every pair's.

        Returns:
            dict: ``clip_scores`` (Nq, L, B) cosine per clip (without
            ``query_to_video``) or ``pos_clip_scores`` (Nq, L) (with it),
            ``max_scores`` (Nq, B) cosine max over clips,
            ``max_scores_unnorm`` (Nq, B) raw dot product max over clips.
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
            with_clip_cos=query_to_video is None,
            query_to_video=query_to_video)
        out = dict(max_scores=scores.cos_max, max_scores_unnorm=scores.raw_max)
        if query_to_video is None:
            out['clip_scores'] = scores.clip_cos
        else:
            out['pos_clip_scores'] = scores.pos_cos
        return out
