"""The one open_clip builder: a CLIP spec in, the frozen model, its image
transform, its tokenizer and its preprocessing config out.

Every CLIP of prvr_mm is built here: the online teacher
(:class:`CLIPTeacherHead`, with the :class:`CLIPTeacherFrames` transform
resolving the same preprocessing without building the model), the text
encoder (:class:`OpenCLIPTextEncoder`) and the extraction tools
(``tools/data/extract_clip_features.py``, ``extract_text_features.py``).

A spec is a dict (the ``clip_model`` of the teacher and of the pipeline):

- ``model_name`` (str): an ``open_clip.create_model`` name. Defaults to
  ``'ViT-B-32'``. prvr_mm registers its configs of ``open_clip_configs/``:
  ``'prvr-tiny-clip'`` (:data:`TINY_CLIP_CFG`) is a randomly initialised
  32-pixel, 32-d CLIP with the real BPE vocabulary, for tests and toys.
- ``model_cfg`` (dict | str): an architecture (``embed_dim``,
  ``vision_cfg``, ``text_cfg``) or its JSON file, registered with open_clip;
  it replaces ``model_name``.
- ``pretrained`` (str): a pretrained tag (``'openai'``) or a local weights
  file; None keeps random weights (drawn from torch's RNG).
- ``quick_gelu`` (bool, optional): the activation. None: the architecture's
  own, switched to QuickGELU for a tag trained with it (OpenAI's).  A local
  file carries no such flag: with a bare OpenAI-style name (``ViT-B-32``,
  whose OpenAI weights use QuickGELU) it is ambiguous and refused unless
  ``quick_gelu`` is given (or the ``-quickgelu`` name is used).
- ``image_size`` (int, optional): force the image size.
- ``preprocess_cfg`` (dict, optional): override the final preprocessing
  (``mean``, ``std``, ``interpolation``, ``resize_mode``, ...).
- ``tokenizer`` (str, optional): ``open_clip.get_tokenizer`` name; defaults
  to the model name (``'ViT-B-32'`` for a ``model_cfg`` model).

``force_quick_gelu``, ``force_image_size`` and ``force_preprocess_cfg``
(open_clip's names) are accepted for the three options; any other
``open_clip.create_model`` keyword (``cache_dir``, ...) is passed on.
"""
import copy
import hashlib
import json
import logging
import os.path as osp
import tempfile
from typing import Any, Callable, Dict, NamedTuple, Optional, Union

import torch

from ...errors import PRVRConfigError

#: Keys of the preprocessing config that act on pixels geometrically (the
#: dataset transform owns them); ``mean``/``std`` are applied in the model.
GEOMETRY_KEYS = ('size', 'interpolation', 'resize_mode', 'fill_color')
CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'open_clip_configs')
#: Name of the tiny CLIP of tests and toys (``open_clip_configs/``).
TINY_CLIP_NAME = 'prvr-tiny-clip'
with open(osp.join(CONFIG_DIR, f'{TINY_CLIP_NAME}.json')) as _f:
    #: The tiny CLIP architecture (STACK.md item 14): 32-d, one layer per
    #: tower, 32-pixel images, the real vocabulary and context length.
    TINY_CLIP_CFG: Dict[str, Any] = json.load(_f)
_ALIASES = dict(
    force_quick_gelu='quick_gelu',
    force_image_size='image_size',
    force_preprocess_cfg='preprocess_cfg')
_REGISTERED: Dict[str, str] = {}


class CLIPBundle(NamedTuple):
    """What :func:`build_clip` returns."""
    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable
    preprocess_cfg: Dict[str, Any]


def register_model_configs() -> None:
    """Add prvr_mm's open_clip model configs (``prvr-tiny-clip``) to
    open_clip's registry, once."""
    import open_clip
    if open_clip.get_model_config(TINY_CLIP_NAME) is None:
        open_clip.add_model_config(CONFIG_DIR)


def register_open_clip_config(model_cfg: Union[str, dict]) -> str:
    """Register an architecture (JSON file or dict) with open_clip.

    Returns:
        str: its model name: the file name without ``.json``, or
        ``prvr-clip-<hash>`` for a dict.
    """
    import open_clip
    if isinstance(model_cfg, str):
        if not osp.isfile(model_cfg):
            raise PRVRConfigError(
                f'open_clip model config not found: {model_cfg}')
        with open(model_cfg) as f:
            cfg = json.load(f)
        _check_cfg(cfg, model_cfg)
        open_clip.add_model_config(model_cfg)
        return osp.splitext(osp.basename(model_cfg))[0]
    cfg = dict(model_cfg)
    _check_cfg(cfg, 'model_cfg')
    text = json.dumps(cfg, sort_keys=True)
    name = 'prvr-clip-' + hashlib.sha1(text.encode()).hexdigest()[:10]
    if _REGISTERED.get(name) != text:
        path = osp.join(
            tempfile.mkdtemp(prefix='prvr_open_clip_cfg_'), f'{name}.json')
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
        raise PRVRConfigError(f'{source}: open_clip model config misses '
                              f'{missing} (expected embed_dim, vision_cfg, '
                              'text_cfg)')


def clip_spec(clip_model: Optional[dict] = None, **kwargs) -> Dict[str, Any]:
    """The normalised spec of ``clip_model`` (see the module docstring):
    open_clip's ``force_*`` names mapped, ``model_cfg`` registered (its
    name becomes ``model_name``), defaults filled in."""
    register_model_configs()
    spec = copy.deepcopy(dict(clip_model or {}, **kwargs))
    for old, new in _ALIASES.items():
        if old in spec:
            if spec.get(new) is not None:
                raise PRVRConfigError(
                    f'clip_model: give {new} or {old}, not both')
            spec[new] = spec.pop(old)
    model_cfg = spec.pop('model_cfg', None)
    spec.setdefault('tokenizer', None)
    if model_cfg is not None:
        spec['model_name'] = register_open_clip_config(model_cfg)
        spec['tokenizer'] = spec['tokenizer'] or 'ViT-B-32'
    spec.setdefault('model_name', 'ViT-B-32')
    for key in ('pretrained', 'quick_gelu', 'image_size', 'preprocess_cfg'):
        spec.setdefault(key, None)
    spec['from_cfg'] = model_cfg is not None
    return spec


def _is_tag(pretrained: Optional[str]) -> bool:
    return bool(pretrained) and not osp.isfile(pretrained)


def resolve_quick_gelu(spec: Dict[str, Any]) -> bool:
    """Whether the model of ``spec`` must be built with QuickGELU forced
    (see the module docstring).

    Raises:
        PRVRConfigError: unknown pretrained tag, ``quick_gelu=False`` with a
            QuickGELU architecture, or a local weights file with a bare
            OpenAI-style name and no ``quick_gelu``.
    """
    import open_clip
    name, pretrained = spec['model_name'], spec['pretrained']
    wanted = spec['quick_gelu']
    arch = open_clip.get_model_config(name.replace('/', '-')) or {}
    arch_qg = bool(arch.get('quick_gelu'))
    if _is_tag(pretrained) and ':' not in name:
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if not tag_cfg:
            tags = open_clip.list_pretrained_tags_by_model(name)
            raise PRVRConfigError(
                f'unknown open_clip weights {pretrained!r} for {name!r}: not '
                f'a local file and not a pretrained tag (tags: {tags})')
        if wanted is None:
            wanted = bool(tag_cfg.get('quick_gelu')) or arch_qg
            if wanted and not arch_qg:
                logging.getLogger(__name__).info(
                    'open_clip: %s weights use QuickGELU; building %s with '
                    'it', pretrained, name)
    elif pretrained and wanted is None and not arch_qg \
            and not spec['from_cfg'] and ':' not in name \
            and open_clip.get_pretrained_cfg(name, 'openai').get('quick_gelu'):
        raise PRVRConfigError(
            f'clip_model: the local weights {pretrained} with model_name '
            f'{name!r} are ambiguous: OpenAI\'s {name} weights use QuickGELU '
            'but other trainings of the same architecture use GELU, and a '
            'weights file does not say which (the features differ). Set '
            f'quick_gelu=True (OpenAI weights; or model_name='
            f"'{name}-quickgelu') or quick_gelu=False (e.g. LAION weights)")
    if wanted is False and arch_qg:
        raise PRVRConfigError(
            f'clip_model: {name!r} is a QuickGELU architecture but '
            'quick_gelu=False; use the name without -quickgelu')
    return bool(wanted) and not arch_qg


def resolve_preprocess_cfg(clip_model: dict) -> Dict[str, Any]:
    """The preprocessing open_clip will attach to the model of
    ``clip_model``, without building the model or downloading weights.

    Mirrors ``open_clip.create_model``: defaults of
    ``open_clip.transform.PreprocessCfg``, the pretrained tag's values, the
    model's image size, then ``image_size`` / ``preprocess_cfg``.
    :func:`build_clip` checks the model it built against it.

    Returns:
        dict: ``size``, ``mode``, ``mean``, ``std``, ``interpolation``,
        ``resize_mode``, ``fill_color``.
    """
    from dataclasses import asdict

    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict
    spec = clip_spec(clip_model)
    name, pretrained = spec['model_name'], spec['pretrained']
    pp = asdict(PreprocessCfg())
    if name.startswith('local-dir:'):
        path = osp.join(name[len('local-dir:'):], 'open_clip_config.json')
        with open(path, encoding='utf-8') as f:
            local = json.load(f)
        model_cfg = local['model_cfg']
        pp = merge_preprocess_dict(pp, local.get('preprocess_cfg', {}))
    elif ':' in name:
        raise PRVRConfigError(
            f'clip_model: cannot resolve the preprocessing of {name!r} '
            'offline; use a built-in model name or local-dir:')
    else:
        model_cfg = open_clip.get_model_config(name.replace('/', '-'))
        if model_cfg is None:
            raise PRVRConfigError(
                f'clip_model: unknown open_clip model {name!r} (known: '
                'open_clip.list_models())')
        if _is_tag(pretrained):
            tag_cfg = open_clip.get_pretrained_cfg(
                name.replace('/', '-'), pretrained)
            pp = merge_preprocess_dict(pp, tag_cfg or {})
    pp['size'] = spec['image_size'] or model_cfg['vision_cfg'].get(
        'image_size', 224)
    return merge_preprocess_dict(pp, spec['preprocess_cfg'] or {})


def build_clip(clip_model: Optional[dict] = None,
               device: Union[str, torch.device] = 'cpu',
               precision: str = 'fp32',
               **kwargs) -> CLIPBundle:
    """Build the frozen open_clip model of a spec.

    Args:
        clip_model (dict, optional): the spec (see the module docstring);
            keyword arguments are merged into it.
        device (str | torch.device): where the model lives.
        precision (str): open_clip precision (``fp32``, ``fp16``, ...).

    Returns:
        CLIPBundle: ``model`` (eval mode, no gradients), ``preprocess`` (the
        evaluation transform, PIL image -> (3, S, S) tensor), ``tokenizer``
        (list of str -> (N, context) ids, at the model's context length) and
        ``preprocess_cfg`` (``model.visual.preprocess_cfg``).

    Raises:
        PRVRConfigError: see :func:`resolve_quick_gelu`; a tokenizer whose
            vocabulary does not fit the text tower; a model whose
            preprocessing differs from :func:`resolve_preprocess_cfg`.
    """
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2
    spec = clip_spec(clip_model, **kwargs)
    force_qg = resolve_quick_gelu(spec)
    name = spec['model_name']
    extra = {
        k: v
        for k, v in spec.items()
        if k not in ('model_name', 'pretrained', 'quick_gelu', 'image_size',
                     'preprocess_cfg', 'tokenizer', 'from_cfg')
    }
    model = open_clip.create_model(
        name,
        pretrained=spec['pretrained'] or None,
        precision=precision,
        device=device,
        force_quick_gelu=force_qg,
        force_image_size=spec['image_size'],
        force_preprocess_cfg=spec['preprocess_cfg'],
        **extra)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    pp = dict(model.visual.preprocess_cfg)
    if ':' not in name:
        expected = resolve_preprocess_cfg(spec_for_preprocess(spec))
        for key in GEOMETRY_KEYS + ('mean', 'std'):
            if _norm(pp.get(key)) != _norm(expected.get(key)):
                raise PRVRConfigError(
                    f'clip_model {clip_model}: the model preprocesses with '
                    f'{key}={pp.get(key)!r} but resolve_preprocess_cfg '
                    f'gives {expected.get(key)!r}; pass preprocess_cfg '
                    'explicitly')
    tokenizer_name = spec['tokenizer'] or name
    tokenizer = open_clip.get_tokenizer(
        tokenizer_name, context_length=model.context_length)
    vocab = getattr(tokenizer, 'vocab_size', None)
    if vocab is not None and vocab > model.vocab_size:
        raise PRVRConfigError(
            f'tokenizer {tokenizer_name!r} has {vocab} tokens but the CLIP '
            f'text tower has a vocabulary of {model.vocab_size} tokens '
            f'(vocab_size={model.vocab_size}): the model must use the '
            'tokenizer\'s vocabulary (49408 for CLIP\'s BPE); token ids are '
            'never clamped')
    preprocess = image_transform_v2(PreprocessCfg(**pp), is_train=False)
    return CLIPBundle(model, preprocess, tokenizer, pp)


def spec_for_preprocess(spec: Dict[str, Any]) -> Dict[str, Any]:
    """A normalised spec as a ``clip_model`` dict again (its registered
    ``model_name`` stands for a ``model_cfg``)."""
    return {k: v for k, v in spec.items() if k != 'from_cfg' and v is not None}


def weights_hash(model: torch.nn.Module) -> str:
    """Short hash of a model's weights: sha256 over its ``state_dict``
    (keys in sorted order; each key's name, dtype, shape and bytes), the
    first 16 hex digits. Recorded with the features a CLIP makes
    (:mod:`prvr_mm.datasets.feature_spec`).

    Returns:
        str: 16 hex digits.
    """
    digest = hashlib.sha256()
    state = model.state_dict()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f'{key}|{t.dtype}|{tuple(t.shape)}|'.encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def embed_dim(model: torch.nn.Module) -> int:
    """Output dimension of an open_clip model's image and text towers."""
    proj = getattr(model, 'text_projection', None)
    if isinstance(proj, torch.nn.Linear):
        return proj.out_features
    if proj is not None:
        return int(proj.shape[1])
    return int(getattr(getattr(model, 'visual', None), 'output_dim'))


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
