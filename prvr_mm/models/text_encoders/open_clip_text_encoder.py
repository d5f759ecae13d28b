"""open_clip text tower as a per-token encoder: sentences -> token features
(N, L, D) + mask, and the pooled CLIP sentence embedding (N, D)."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..teachers.open_clip_utils import build_clip, embed_dim


@MODELS.register_module()
class OpenCLIPTextEncoder(BaseModule):
    """Token features of an open_clip text transformer before pooling.

    The model is built by the one CLIP builder, as the teacher and the
    extraction tools build theirs
    (:func:`prvr_mm.models.teachers.open_clip_utils.build_clip`): an
    architecture name and weights (``pretrained='openai'`` or a local
    file), or a small architecture config (random weights, tests); the
    tokenizer is ``open_clip.get_tokenizer(model_name)``.  Only the text
    tower is kept.

    Token features are the final layer-normed hidden states of the text
    transformer, projected by ``text_projection`` when ``project=True`` (the
    default: tokens then live in the joint image-text space and the
    sentence embedding is exactly the projected end-of-text token).  The
    mask covers the start token, the words and the end token; CLIP's text
    transformer is causal, so padding never changes them.

    Example::

        enc = MODELS.build(dict(type='OpenCLIPTextEncoder',
                                model_name='ViT-B-32', pretrained='openai'))
        feats, mask = enc.encode(['a man opens the door'])   # (1, L, 512)
        sent = enc.encode_sentences(['a man opens the door'])  # (1, 512)

    Args:
        model_name (str): open_clip architecture. Defaults to
            ``'ViT-B-32'``.
        pretrained (str, optional): pretrained tag or local weights file;
            ``None`` keeps random weights.
        model_cfg (str | dict, optional): architecture JSON file or dict
            registered with open_clip first (small test models).
        quick_gelu (bool, optional): the activation; needed with a local
            weights file and a bare OpenAI-style name (see
            :func:`~prvr_mm.models.teachers.open_clip_utils.build_clip`).
        project (bool): project tokens with ``text_projection``. Defaults
            to True.
        max_len (int, optional): at most this many tokens (start and end
            tokens included); defaults to the context length (77).
        init_cfg (dict, optional): for the BaseModule API.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-32',
                 pretrained: Optional[str] = None,
                 model_cfg: Union[str, dict, None] = None,
                 quick_gelu: Optional[bool] = None,
                 project: bool = True,
                 max_len: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        spec = dict(
            model_name=model_name,
            pretrained=pretrained,
            quick_gelu=quick_gelu)
        if model_cfg is not None:
            spec['model_cfg'] = model_cfg
        clip, _, self.tokenizer, _ = build_clip(spec)
        if not hasattr(clip, 'token_embedding'):
            raise ValueError(
                f'{model_name}: only CLIP models with a built-in text '
                'transformer are supported (not CustomTextCLIP/HF towers)')
        self.context_length = int(clip.context_length)
        if max_len is not None and not 2 <= max_len <= self.context_length:
            raise ValueError(f'max_len={max_len} must be in [2, '
                             f'{self.context_length}]')
        self.max_len = max_len or self.context_length
        self.project = project
        self.pool_type = getattr(clip, 'text_pool_type', 'argmax')
        self.eos_id = getattr(clip, 'text_eos_id', None)
        self._dim = embed_dim(clip) if project else int(clip.transformer.width)
        # keep the text tower only (frozen)
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer('attn_mask', clip.attn_mask, persistent=False)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Token (and sentence, with ``project``) feature dimension D."""
        return self._dim

    @property
    def sentence_dim(self) -> int:
        """Dimension of :meth:`encode_sentences` (the CLIP embedding)."""
        proj = self.text_projection
        if proj is None:
            return int(self.transformer.width)
        return proj.out_features if isinstance(proj, torch.nn.Linear) else int(
            proj.shape[1])

    def tokenize(self, sentences: Sequence[str]) -> torch.Tensor:
        """(N, context_length) token ids from the open_clip tokenizer."""
        return self.tokenizer(list(sentences))

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        proj = self.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj

    def _end_index(self, ids: torch.Tensor) -> torch.Tensor:
        """(N,) index of the pooled (end-of-text) token of each sentence."""
        if self.pool_type == 'argmax':
            return ids.argmax(dim=-1)
        if self.pool_type == 'eos' and self.eos_id is not None:
            return (ids == self.eos_id).int().argmax(dim=-1)
        if self.pool_type == 'first':
            return torch.zeros(len(ids), dtype=torch.long, device=ids.device)
        # 'last' / none: everything up to the last non-padding token
        valid = (ids != 0).int()
        return ids.shape[1] - 1 - valid.flip(-1).argmax(-1)

    @torch.no_grad()
    def _hidden(self,
                sentences: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        if isinstance(sentences, str):
            sentences = [sentences]
        if not len(sentences):
            raise ValueError('encode() needs at least one sentence')
        device = self.token_embedding.weight.device
        ids = self.tokenize(sentences).to(device)
        cast = self.transformer.get_cast_dtype()
        x = self.token_embedding(ids).to(cast)
        x = x + self.positional_embedding.to(cast)
        x = self.transformer(x, attn_mask=self.attn_mask)
        return self.ln_final(x), ids

    def encode(self, sentences: Union[str, Sequence[str]]
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-token features of sentences.

        Args:
            sentences (str | Sequence[str]): N sentences.

        Returns:
            tuple: ``feats`` (N, L, D) float32 and ``mask`` (N, L) bool
            (True from the start token to the end token); ``L`` is the
            longest sentence in tokens, at most ``max_len`` (a longer
            sentence keeps its first ``max_len`` tokens).
        """
        hidden, ids = self._hidden(sentences)
        end = self._end_index(ids)
        length = (end + 1).clamp(max=self.max_len)
        L = int(length.max())
        feats = hidden[:, :L]
        if self.project:
            feats = self._project(feats)
        mask = torch.arange(L, device=ids.device)[None] < length[:, None]
        return feats.float(), mask

    def encode_sentences(self,
                         sentences: Union[str, Sequence[str]]) -> torch.Tensor:
        """CLIP sentence embeddings (``model.encode_text``, unnormalised).

        Returns:
            Tensor: (N, sentence_dim) float32.
        """
        hidden, ids = self._hidden(sentences)
        end = self._end_index(ids)
        pooled = hidden[torch.arange(len(ids), device=ids.device), end]
        return self._project(pooled).float()

    def forward(self,
                sentences: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`encode`."""
        return self.encode(sentences)

    def train(self, mode: bool = True) -> 'OpenCLIPTextEncoder':
        """Always in eval mode (frozen)."""
        return super().train(False)
