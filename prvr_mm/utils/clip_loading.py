"""One loading path for open_clip models: a model name (built-in, or a
config JSON registered with ``open_clip.add_model_config``) and weights (a
pretrained tag such as ``openai``, or a local file), with the evaluation
transform of ``open_clip.create_model_and_transforms`` and the tokenizer of
``open_clip.get_tokenizer``.

Tests use a tiny random model through the same path: a config JSON (or
dict) that keeps the real vocabulary size 49408, so the real tokenizer's
ids fit (token ids are never clamped).
"""
import json
import logging
import os.path as osp
import tempfile
from typing import Callable, Optional, Tuple, Union

import torch

#: A tiny CLIP (32-d, one layer per tower, 32-pixel images) with the real
#: text vocabulary and context length: builds in a fraction of a second and
#: works with the real ViT-B/32 tokenizer.  For tests and smoke runs.
TINY_CLIP_CFG = dict(
    embed_dim=32,
    vision_cfg=dict(
        layers=1, width=32, head_width=16, patch_size=8, image_size=32),
    text_cfg=dict(
        context_length=77, vocab_size=49408, width=32, heads=2, layers=1))

_REGISTERED = {}


def register_open_clip_config(model_cfg: Union[str, dict],
                              name: Optional[str] = None) -> str:
    """Register a model architecture with open_clip.

    Args:
        model_cfg (str | dict): a JSON file (``{"embed_dim": ...,
            "vision_cfg": {...}, "text_cfg": {...}}``; its name without
            ``.json`` becomes the model name) or such a dict.
        name (str, optional): model name for a dict config (default
            ``prvr-clip-<hash>``); ignored for a file.

    Returns:
        str: the model name to pass to ``open_clip.create_model``.
    """
    import open_clip
    if isinstance(model_cfg, str):
        if not osp.isfile(model_cfg):
            raise FileNotFoundError(
                f'open_clip model config not found: {model_cfg}')
        with open(model_cfg) as f:
            cfg = json.load(f)
        _check_cfg(cfg, model_cfg)
        open_clip.add_model_config(model_cfg)
        return osp.splitext(osp.basename(model_cfg))[0]
    cfg = dict(model_cfg)
    _check_cfg(cfg, 'model_cfg')
    text = json.dumps(cfg, sort_keys=True)
    if name is None:
        import hashlib
        name = 'prvr-clip-' + hashlib.sha1(text.encode()).hexdigest()[:10]
    if _REGISTERED.get(name) != text:
        folder = tempfile.mkdtemp(prefix='prvr_open_clip_cfg_')
        path = osp.join(folder, f'{name}.json')
        with open(path, 'w') as f:
            f.write(text)
        open_clip.add_model_config(path)
        _REGISTERED[name] = text
    return name


def _check_cfg(cfg: dict, source: str) -> None:
    missing = [
        k for k in ('embed_dim', 'vision_cfg', 'text_cfg') if k not in cfg
    ]
    if missing:
        raise ValueError(f'{source}: open_clip model config misses '
                         f'{missing} (expected embed_dim, vision_cfg, '
                         'text_cfg)')


def build_open_clip(
    model_name: str = 'ViT-B-32',
    pretrained: Optional[str] = None,
    model_cfg: Union[str, dict, None] = None,
    device: Union[str, torch.device] = 'cpu',
    precision: str = 'fp32',
) -> Tuple[torch.nn.Module, Callable, Callable]:
    """Build an open_clip model in eval mode with its eval transform and
    tokenizer.

    Args:
        model_name (str): open_clip architecture name. Defaults to
            ``'ViT-B-32'``.
        pretrained (str, optional): a pretrained tag (``'openai'``) or a
            local weights file; ``None`` keeps random weights.  With a tag
            whose weights were trained with QuickGELU (OpenAI's) the
            activation is switched to match.
        model_cfg (str | dict, optional): architecture JSON (or dict)
            registered first; its name replaces ``model_name``.
        device (str | torch.device): where the model lives.
        precision (str): open_clip precision (``fp32``, ``fp16``, ...).

    Returns:
        tuple: ``(model, preprocess, tokenizer)``: the model (eval mode,
        no gradients), the evaluation transform (PIL image -> (3, S, S)
        tensor) and the tokenizer (list of str -> (N, context) ids).
    """
    import open_clip
    if model_cfg is not None:
        model_name = register_open_clip_config(model_cfg)
    kwargs = {}
    if pretrained and not osp.isfile(pretrained):
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag_cfg:
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            raise ValueError(
                f'unknown open_clip weights {pretrained!r} for '
                f'{model_name!r}: not a local file and not a pretrained tag '
                f'(tags: {tags})')
        arch = open_clip.get_model_config(model_name) or {}
        if tag_cfg.get('quick_gelu') and not arch.get('quick_gelu'):
            logging.getLogger(__name__).info(
                'open_clip: %s weights use QuickGELU; building %s with it',
                pretrained, model_name)
            kwargs['force_quick_gelu'] = True
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name,
        pretrained=pretrained or None,
        precision=precision,
        device=device,
        **kwargs)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = open_clip.get_tokenizer(model_name)
    return model, preprocess, tokenizer


def embed_dim(model: torch.nn.Module) -> int:
    """Output dimension of an open_clip model's image and text towers."""
    proj = getattr(model, 'text_projection', None)
    if isinstance(proj, torch.nn.Linear):
        return proj.out_features
    if proj is not None:
        return int(proj.shape[1])
    visual = getattr(model, 'visual', None)
    return int(getattr(visual, 'output_dim'))


__all__ = [
    'TINY_CLIP_CFG', 'register_open_clip_config', 'build_open_clip',
    'embed_dim'
]
