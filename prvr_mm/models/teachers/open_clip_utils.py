"""Builds the frozen open_clip teacher and resolves its image preprocessing.

One ``clip_model`` config dict (the same one given to
:class:`CLIPTeacherHead` and to the :class:`CLIPTeacherFrames` pipeline
transform) decides the model, its tokenizer and its preprocessing:

- ``dict(model_name='ViT-B-32-quickgelu', pretrained='openai')``: an
  ``open_clip.create_model`` name with a pretrained tag or a local weights
  file (``pretrained='/path/open_clip_pytorch_model.bin'``); any other
  ``create_model`` keyword (``force_image_size``, ``force_preprocess_cfg``,
  ``force_quick_gelu``, ``cache_dir``, ...) is passed on;
- ``dict(model_cfg=dict(embed_dim=..., vision_cfg=..., text_cfg=...))``:
  ``open_clip.model.CLIP(**model_cfg)`` with random weights (tests, toys),
  optionally with ``preprocess_cfg=dict(...)`` overrides.

prvr_mm adds its model configs of ``open_clip_configs/`` to open_clip's
registry (``open_clip.add_model_config``): ``dict(model_name=
'prvr-tiny-clip')`` is a randomly initialised 32-pixel, 32-d CLIP with the
real BPE vocabulary, for the toy configs (no download).

``tokenizer`` (an ``open_clip.get_tokenizer`` name) defaults to the model
name, or to ``'ViT-B-32'`` (CLIP's BPE) for a ``model_cfg`` model.
"""
import copy
import json
import os.path as osp
from typing import Any, Callable, Dict, Tuple

import torch

#: Keys of the preprocessing config that act on pixels geometrically (the
#: dataset transform owns them); ``mean``/``std`` are applied in the model.
GEOMETRY_KEYS = ('size', 'interpolation', 'resize_mode', 'fill_color')
CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'open_clip_configs')


def register_model_configs() -> None:
    """Add prvr_mm's open_clip model configs (``prvr-tiny-clip``) to
    open_clip's registry, once."""
    import open_clip
    if open_clip.get_model_config('prvr-tiny-clip') is None:
        open_clip.add_model_config(CONFIG_DIR)


def _check_keys(cfg: dict) -> None:
    if 'model_cfg' in cfg:
        extra = set(cfg) - {'model_cfg', 'preprocess_cfg', 'tokenizer'}
        if extra:
            raise ValueError(
                f'clip_model with model_cfg takes only model_cfg, '
                f'preprocess_cfg and tokenizer; got also {sorted(extra)}')
    elif 'preprocess_cfg' in cfg:
        raise ValueError(
            'clip_model: preprocess_cfg goes with model_cfg only; with '
            'model_name use force_preprocess_cfg (an open_clip.create_model '
            'argument)')


def resolve_preprocess_cfg(clip_model: dict) -> Dict[str, Any]:
    """The preprocessing open_clip will attach to the model of
    ``clip_model``, without building the model or downloading weights.

    Mirrors ``open_clip.create_model``: defaults of
    ``open_clip.transform.PreprocessCfg``, the pretrained tag's values, the
    model's image size, then ``force_image_size`` / ``force_preprocess_cfg``.
    :class:`CLIPTeacherHead` checks the result against the model it built.

    Args:
        clip_model (dict): see the module docstring.

    Returns:
        dict: ``size``, ``mode``, ``mean``, ``std``, ``interpolation``,
        ``resize_mode``, ``fill_color``.
    """
    from dataclasses import asdict

    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict
    cfg = dict(clip_model)
    _check_keys(cfg)
    register_model_configs()
    pp = asdict(PreprocessCfg())
    if 'model_cfg' in cfg:
        vision = cfg['model_cfg'].get('vision_cfg', {})
        vision = vision if isinstance(vision, dict) else asdict(vision)
        pp['size'] = vision.get('image_size', 224)
        return merge_preprocess_dict(pp, cfg.get('preprocess_cfg') or {})
    name = cfg.get('model_name', 'ViT-B-32')
    pretrained = cfg.get('pretrained')
    if name.startswith('local-dir:'):
        path = osp.join(name[len('local-dir:'):], 'open_clip_config.json')
        with open(path, encoding='utf-8') as f:
            local = json.load(f)
        model_cfg = local['model_cfg']
        pp = merge_preprocess_dict(pp, local.get('preprocess_cfg', {}))
    elif ':' in name:
        raise ValueError(
            f'clip_model: cannot resolve the preprocessing of {name!r} '
            'offline; use a built-in model name or local-dir:')
    else:
        model_cfg = open_clip.get_model_config(name.replace('/', '-'))
        if model_cfg is None:
            raise ValueError(f'clip_model: unknown open_clip model {name!r} '
                             f'(known: open_clip.list_models())')
        if pretrained and not osp.isfile(pretrained):
            tag_cfg = open_clip.get_pretrained_cfg(
                name.replace('/', '-'), pretrained)
            pp = merge_preprocess_dict(pp, tag_cfg or {})
    pp['size'] = cfg.get('force_image_size') or model_cfg['vision_cfg'].get(
        'image_size', 224)
    return merge_preprocess_dict(pp, cfg.get('force_preprocess_cfg') or {})


def build_clip_model(clip_model: dict
                     ) -> Tuple[torch.nn.Module, Callable, Dict[str, Any]]:
    """Build the frozen open_clip model of ``clip_model``.

    Args:
        clip_model (dict): see the module docstring.

    Returns:
        tuple: ``(model, tokenizer, preprocess_cfg)``: the model in eval mode
        without gradients, ``open_clip.get_tokenizer`` at the model's context
        length, and ``model.visual.preprocess_cfg``.

    Raises:
        ValueError: the tokenizer's vocabulary does not fit the model's, or
            the model's preprocessing differs from
            :func:`resolve_preprocess_cfg` (what the data pipeline uses).
    """
    import open_clip
    from open_clip.model import set_model_preprocess_cfg
    cfg = copy.deepcopy(dict(clip_model))
    _check_keys(cfg)
    register_model_configs()
    expected = resolve_preprocess_cfg(cfg)
    tokenizer_name = cfg.pop('tokenizer', None)
    if 'model_cfg' in cfg:
        model = open_clip.model.CLIP(**cfg.pop('model_cfg'))
        set_model_preprocess_cfg(model, expected)
        tokenizer_name = tokenizer_name or 'ViT-B-32'
    else:
        name = cfg.pop('model_name', 'ViT-B-32')
        model = open_clip.create_model(name, **cfg)
        tokenizer_name = tokenizer_name or name
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    pp = dict(model.visual.preprocess_cfg)
    for key in GEOMETRY_KEYS + ('mean', 'std'):
        if _norm(pp.get(key)) != _norm(expected.get(key)):
            raise ValueError(
                f'clip_model {clip_model}: the model preprocesses with '
                f'{key}={pp.get(key)!r} but resolve_preprocess_cfg gives '
                f'{expected.get(key)!r}; pass force_preprocess_cfg explicitly')
    ctx = model.context_length
    tokenizer = open_clip.get_tokenizer(tokenizer_name, context_length=ctx)
    vocab = getattr(tokenizer, 'vocab_size', None)
    if vocab is not None and vocab > model.vocab_size:
        raise ValueError(
            f'tokenizer {tokenizer_name!r} has {vocab} tokens but the CLIP '
            f'text tower has a vocabulary of {model.vocab_size} tokens '
            f'(vocab_size={model.vocab_size}): the model must use the '
            'tokenizer\'s vocabulary (49408 for CLIP\'s BPE); token ids are '
            'never clamped')
    return model, tokenizer, pp


def _norm(value: Any) -> Any:
    """Compare ints and (int, int) sizes, lists and tuples alike."""
    if isinstance(value, (list, tuple)):
        value = tuple(_norm(v) for v in value)
        if len(value) == 2 and value[0] == value[1] and isinstance(
                value[0], int):
            return value[0]
        return value
    if isinstance(value, float):
        return round(value, 8)
    return value
