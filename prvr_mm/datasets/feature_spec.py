"""The CLIP model spec of a feature file: recorded by the extraction tools
in every h5 file they write with a CLIP model, compared with the config's
spec by whatever opens the file (dataset, online teacher, search).

A record is a small dict, stored as JSON in the file attribute
``clip_spec``:

- ``model_name``: the open_clip architecture (a ``model_cfg`` file's base
  name without ``.json``);
- ``pretrained``: the pretrained tag, the weights file's base name, or
  None (random weights);
- ``quick_gelu``: the activation the model was built with (bool);
- ``image_size``: the image tower's input size;
- ``weights``: the first 16 hex digits of a sha256 over the model's
  ``state_dict`` (:func:`~prvr_mm.models.teachers.open_clip_utils.
  weights_hash`), or None where no model was at hand.

Files without a record (older extractions, the MS-SL packs) are accepted
with a one-time warning naming the file.
"""
import json
import os.path as osp
import warnings
from typing import Any, Dict, Optional, Sequence, Set

import torch

from ..errors import PRVRDataError

__all__ = [
    'SPEC_ATTR', 'SPEC_FIELDS', 'clip_spec_record', 'read_spec', 'check_spec',
    'check_files', 'spec_file_attrs', 'text_encoder_clip_spec', 'format_spec'
]

#: h5 file attribute holding the record (JSON).
SPEC_ATTR = 'clip_spec'
#: Fields that must be equal (``weights`` too, where both files have one).
SPEC_FIELDS = ('model_name', 'pretrained', 'quick_gelu', 'image_size')
_WARNED: Set[str] = set()
_FIX = ('extract the file again with the config\'s model (tools/data/'
        'extract_clip_features.py, or extract_text_features.py --encoder '
        'open_clip, with the same --model / --model-config / --pretrained / '
        '--quick-gelu), or change the config\'s CLIP spec to the file\'s')


def clip_spec_record(clip_model: Optional[dict],
                     model: Optional[torch.nn.Module] = None
                     ) -> Dict[str, Any]:
    """The record of a CLIP spec (see the module doc).

    Args:
        clip_model (dict, optional): the spec of :func:`~prvr_mm.models.
            teachers.open_clip_utils.build_clip` (None: its defaults).
        model (nn.Module, optional): the CLIP built from it (whole model,
            both towers): its weights hash is recorded.

    Returns:
        dict: ``model_name``, ``pretrained``, ``quick_gelu``,
        ``image_size``, ``weights``.
    """
    import open_clip

    from ..models.teachers.open_clip_utils import (clip_spec,
                                                   resolve_preprocess_cfg,
                                                   resolve_quick_gelu,
                                                   weights_hash)
    spec = clip_spec(clip_model)
    name = spec['model_name']
    arch = open_clip.get_model_config(name.replace('/', '-')) or {}
    pretrained = spec['pretrained'] or None
    if pretrained and osp.isfile(pretrained):
        pretrained = osp.basename(pretrained)
    size = resolve_preprocess_cfg(dict(clip_model or {}))['size']
    if isinstance(size, (list, tuple)):
        size = size[0] if len(set(size)) == 1 else list(size)
    return dict(
        model_name=name,
        pretrained=pretrained,
        quick_gelu=bool(resolve_quick_gelu(spec) or arch.get('quick_gelu')),
        image_size=size,
        weights=weights_hash(model) if model is not None else None)


def spec_file_attrs(record: Dict[str, Any]) -> Dict[str, str]:
    """The h5 file attributes that store ``record``."""
    return {SPEC_ATTR: json.dumps(record, sort_keys=True)}


def read_spec(path: str) -> Optional[Dict[str, Any]]:
    """The record of an h5 file, or None (no record, or not an h5 file:
    BigFile folders hold no CLIP features of ours)."""
    if not path or not osp.isfile(path):
        return None
    import h5py
    try:
        with h5py.File(path, 'r') as f:
            text = f.attrs.get(SPEC_ATTR)
    except OSError:
        return None  # not an h5 file: the readers report it
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise PRVRDataError(
            f'{path}: attribute {SPEC_ATTR!r} is not a CLIP spec record '
            f'({e}); expected JSON with {SPEC_FIELDS}; extract the file '
            'again') from e


def format_spec(record: Dict[str, Any]) -> str:
    """``model_name=..., pretrained=..., quick_gelu=..., image_size=...,
    weights=...``."""
    return ', '.join(f'{k}={record.get(k)!r}'
                     for k in SPEC_FIELDS + ('weights', ))


def _differences(found: dict, expected: dict) -> list:
    diff = [k for k in SPEC_FIELDS if found.get(k) != expected.get(k)]
    if found.get('weights') and expected.get('weights') and found.get(
            'pretrained') and found['weights'] != expected['weights']:
        diff.append('weights')
    return diff


def check_spec(path: str,
               expected: Dict[str, Any],
               what: str,
               fix: Optional[str] = None,
               against: str = 'the config uses',
               warn: bool = True) -> Optional[Dict[str, Any]]:
    """Refuse a feature file extracted with another CLIP than ``expected``.

    Args:
        path (str): the file.
        expected (dict): the record of the config's spec
            (:func:`clip_spec_record`).
        what (str): what the file holds (``'teacher video features'``...).
        fix (str, optional): the fix (message); default: extract again
            with the config's model, or change the config's ``clip_model``.
        against (str): who uses ``expected`` (message).
        warn (bool): warn (once) about a file without a record; False for
            files that need not come from a CLIP (student features).

    Returns:
        dict | None: the file's record (None: the file has none; a
        one-time warning names it).

    Raises:
        PRVRDataError: the records differ; the message names the file,
            both specs and the fix.
    """
    found = read_spec(path)
    if found is None:
        if warn and path and osp.isfile(path) and path not in _WARNED:
            _WARNED.add(path)
            warnings.warn(
                f'{path}: the {what} carry no CLIP spec (an older '
                'extraction or a released pack); accepted as made with '
                f'the expected CLIP ({format_spec(expected)})',
                stacklevel=2)
        return None
    diff = _differences(found, expected)
    if diff:
        raise PRVRDataError(
            f'{path}: the {what} were extracted with CLIP '
            f'{format_spec(found)}, but {against} {format_spec(expected)} '
            f'(they differ in {", ".join(diff)}). Fix: ' + (fix or _FIX))
    return found


def check_files(paths: Sequence[tuple],
                clip_model: Optional[dict],
                fix: Optional[str] = None,
                model: Optional[torch.nn.Module] = None,
                against: str = 'the config uses') -> None:
    """:func:`check_spec` of several ``(path, what[, warn])`` against one
    spec (nothing to check without ``clip_model``)."""
    if clip_model is None:
        return
    expected = clip_spec_record(clip_model, model)
    for path, what, *warn in paths:
        if path:
            check_spec(path, expected, what, fix, against, *warn)


def text_encoder_clip_spec(text_encoder: Optional[dict]) -> Optional[dict]:
    """The CLIP spec of a config's ``text_encoder`` when it is an
    ``OpenCLIPTextEncoder`` (else None)."""
    if not text_encoder:
        return None
    kind = text_encoder.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    if name.split('.')[-1] != 'OpenCLIPTextEncoder':
        return None
    spec = dict(
        model_name=text_encoder.get('model_name', 'ViT-B-32'),
        pretrained=text_encoder.get('pretrained'),
        quick_gelu=text_encoder.get('quick_gelu'))
    if text_encoder.get('model_cfg') is not None:
        spec['model_cfg'] = text_encoder['model_cfg']
    return spec
