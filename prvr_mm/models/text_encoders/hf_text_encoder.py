"""Hugging Face text encoder: sentences -> per-token features (N, L, D) and
a mask, e.g. the RoBERTa query features of the MS-SL layout."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule


@MODELS.register_module()
class HFTextEncoder(BaseModule):
    """Per-token features of a ``transformers`` encoder (RoBERTa, BERT, ...).

    The tokenizer and the model are loaded with ``AutoTokenizer`` /
    ``AutoModel.from_pretrained`` from a hub name (``roberta-base``,
    ``roberta-large``) or a local folder written by ``save_pretrained``;
    alternatively the model is built from a config dict (random weights,
    for tests) and only the tokenizer is loaded.

    Example::

        enc = MODELS.build(dict(type='HFTextEncoder', model='roberta-base'))
        feats, mask = enc.encode(['a man opens the door'])  # (1, L, 768)

    Args:
        model (str): hub name or local folder of the tokenizer and (unless
            ``config`` is given) the model.
        config (dict, optional): ``transformers`` config of a randomly
            initialised model, e.g. ``dict(model_type='roberta',
            hidden_size=32, ...)``; ``model`` then only provides the
            tokenizer.
        max_len (int): at most this many tokens per sentence (special tokens
            included); longer sentences are truncated. Defaults to 64.
        layer (int): hidden state to return: ``-1`` the last layer, ``-2``
            the one before (TVR's query features), ... Defaults to -1.
        frozen (bool): eval mode and no gradients (features for a frozen
            front end or an extraction tool). Defaults to True.
        local_files_only (bool): never contact the hub. Defaults to False.
        init_cfg (dict, optional): for the BaseModule API.
    """

    def __init__(self,
                 model: str = 'roberta-base',
                 config: Optional[dict] = None,
                 max_len: int = 64,
                 layer: int = -1,
                 frozen: bool = True,
                 local_files_only: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        from ...utils.dependencies import require
        require('transformers', 'HFTextEncoder')
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        if max_len < 2:
            raise ValueError(f'max_len must be >= 2, got {max_len}')
        self.model_name, self.max_len, self.layer = model, max_len, layer
        self.frozen = frozen
        self.tokenizer = AutoTokenizer.from_pretrained(
            model, local_files_only=local_files_only)
        if config is not None:
            cfg = dict(config)
            model_type = cfg.pop('model_type', None)
            if model_type is None:
                raise ValueError("config needs 'model_type' (e.g. 'roberta')")
            self.encoder = AutoModel.from_config(
                AutoConfig.for_model(model_type, **cfg),
                add_pooling_layer=False)
        else:
            self.encoder = AutoModel.from_pretrained(
                model,
                local_files_only=local_files_only,
                add_pooling_layer=False)
        vocab = self.encoder.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > vocab:
            raise ValueError(
                f'{model}: the tokenizer has {len(self.tokenizer)} tokens but '
                f'the model embeds only {vocab}')
        positions = getattr(self.encoder.config, 'max_position_embeddings',
                            None)
        if positions is not None and self.encoder.config.model_type in (
                'roberta', 'xlm-roberta', 'camembert'):
            positions -= 2  # RoBERTa offsets positions by the padding id + 1
        if positions is not None and max_len > positions:
            raise ValueError(f'max_len={max_len} exceeds the {positions} '
                             f'positions of {model}')
        if frozen:
            self.encoder.eval()
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Token feature dimension ``D`` (``hidden_size``)."""
        return int(self.encoder.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def tokenize(self, sentences: Sequence[str]) -> dict:
        """Token ids ``input_ids`` (N, L) and ``attention_mask`` (N, L) of
        the sentences, padded to the longest (at most ``max_len``)."""
        return self.tokenizer(
            list(sentences),
            padding=True,
            truncation=True,
            max_length=self.max_len,
            return_tensors='pt')

    def encode(self, sentences: Union[str, Sequence[str]]
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-token features of sentences.

        Args:
            sentences (str | Sequence[str]): N sentences.

        Returns:
            tuple: ``feats`` (N, L, D) float32 hidden states of ``layer``
            (padding rows are whatever the model outputs there), and
            ``mask`` (N, L) bool, True on real tokens (special tokens
            included); ``L`` is the longest tokenised sentence, at most
            ``max_len``.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        if not len(sentences):
            raise ValueError('encode() needs at least one sentence')
        batch = {
            k: v.to(self.device)
            for k, v in self.tokenize(sentences).items()
        }
        grad = not self.frozen and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            out = self.encoder(**batch, output_hidden_states=self.layer != -1)
        hidden = (
            out.last_hidden_state
            if self.layer == -1 else out.hidden_states[self.layer])
        return hidden.float(), batch['attention_mask'].bool()

    def forward(self,
                sentences: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`encode`."""
        return self.encode(sentences)

    def train(self, mode: bool = True) -> 'HFTextEncoder':
        """A frozen encoder stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self
