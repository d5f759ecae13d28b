"""Convert an authors' DL-DKD / DL-DKD++ checkpoint into a prvr_mm one.

Usage::

    python tools/model_converters/dldkd_to_prvr_mm.py IN OUT [--iccv] \
        [--config CFG]

``IN`` is what the authors' ``method/train.py`` saves
(``{'model': state_dict, 'model_cfg': ..., 'epoch': ...}``) or a raw state
dict.  ``OUT`` is an MMEngine checkpoint ``{'meta': ..., 'state_dict': ...}``
that ``tools/test.py CONFIG OUT`` (``mmengine.runner.load_checkpoint``)
loads.

* ``--iccv``: the model variant whose exploration branch shares the
  inheritance query projection (``share_query_proj=True``); required for
  checkpoints of the ICCV 2023 release (``A_``/``B_`` key naming).
* ``--config``: build the model of a prvr_mm config and check that the
  converted weights cover exactly its parameters with the same shapes
  (without it, the keys are checked against the DL-DKD model structure:
  every parameter of each branch present in the checkpoint).

Unknown, missing or mis-shaped keys are errors (exit status 1, the message
names the key); so are a missing, empty or truncated ``IN`` (the message
names the file) and a pickle that would call a function while loading (the
message names the global; nothing is executed).
"""
import argparse
import os.path as osp
import pickle
from collections.abc import Mapping
from typing import Dict, Optional, Sequence

import torch

from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.checkpoint_loader import (UnsafeCheckpointError,
                                             load_local_checkpoint, mismatches)
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.convert_dldkd import (CheckpointConversionError,
                                         convert_state_dict, detect_naming)


class _Opaque(dict):
    """Stand-in for a non-tensor object of the checkpoint (e.g. the
    ``EasyDict`` model config) whose class is not importable or not
    trusted: keeps its items, drops its attribute state.  Pickle builds
    such objects with ``cls.__new__`` (NEWOBJ); a pickle that CALLS the
    global with arguments (REDUCE, how a crafted file runs
    ``os.system``) is refused."""

    _global = '?'

    def __init__(self, *args, **kwargs) -> None:
        raise CheckpointConversionError(
            f'refusing to unpickle: the checkpoint calls {self._global} '
            'while loading (it could run code); not a DL-DKD checkpoint')

    def __setstate__(self, state) -> None:
        pass


def _opaque(module: str, name: str) -> type:
    return type(f'_Opaque_{name}', (_Opaque, ),
                dict(_global=f'{module}.{name}'))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles tensors and containers; any other class becomes
    :class:`_Opaque` instead of being imported (nothing is executed)."""

    _ALLOWED = {('collections', 'OrderedDict'), ('torch', 'Size'),
                ('torch', 'device')}

    def find_class(self, module: str, name: str):
        if module == 'torch._utils' and name.startswith('_rebuild') or \
                (module, name) in self._ALLOWED or \
                module == 'torch' and isinstance(
                    getattr(torch, name, None), torch.dtype):
            return super().find_class(module, name)
        return _opaque(module, name)


class _RestrictedPickle:
    """``pickle_module`` for :func:`torch.load`."""
    Unpickler = _RestrictedUnpickler
    load = pickle.load
    __name__ = 'restricted_pickle'


def load_authors_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Read the authors' state dict from ``path`` (on CPU).

    ``torch.load(weights_only=True)`` first (named errors for missing,
    empty or truncated files); their checkpoints also pickle the
    ``EasyDict`` model config, which the weights-only unpickler refuses, so
    the fallback unpickles with :class:`_RestrictedUnpickler` (tensors and
    containers only, other objects replaced by plain dicts, calls refused).

    Returns:
        dict: the authors' key -> tensor.
    """
    try:
        ckpt = load_local_checkpoint(path, map_location='cpu')
    except UnsafeCheckpointError:
        ckpt = torch.load(
            path,
            map_location='cpu',
            weights_only=False,
            pickle_module=_RestrictedPickle)
    if not isinstance(ckpt, Mapping):
        raise CheckpointConversionError(
            f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    for key in ('model', 'state_dict'):
        if isinstance(ckpt.get(key), Mapping):
            ckpt = ckpt[key]
            break
    bad = [k for k, v in ckpt.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointConversionError(
            f'{path}: key {bad[0]!r} is not a tensor; expected the authors\' '
            "checkpoint {'model': state_dict, ...} or a raw state dict")
    return dict(ckpt)


def build_model(config: str) -> torch.nn.Module:
    """Build ``cfg.model`` of a prvr_mm config in the mmaction scope."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import prvr_mm  # noqa: F401  (registers the modules)

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return MODELS.build(cfg.model)


def default_expected_keys(state: Dict[str, torch.Tensor],
                          share_query_proj: bool) -> list:
    """prvr_mm keys of the DL-DKD model that ``state`` is a checkpoint of
    (exploration branch included when it has any ``exploration.`` key), to
    detect missing keys without a config."""
    from prvr_mm.models import PRVRBranch
    branch = PRVRBranch(
        video_dim=1,
        query_dim=1,
        hidden_dim=4,
        max_ctx_l=1,
        max_desc_l=1,
        num_heads=1)
    names = ['inheritance']
    if any(k.startswith('exploration.') for k in state):
        names.append('exploration')
    # a shared projection is still listed under both branches
    return [f'{name}.{key}' for name in names for key in branch.state_dict()]


def check_against_model(state: Dict[str, torch.Tensor],
                        model: torch.nn.Module) -> None:
    """Keys and shapes of ``state`` must be exactly those of ``model``;
    the error lists every mismatched key with both shapes."""
    lines = mismatches(model, state)
    if lines:
        raise CheckpointConversionError(
            f'the converted checkpoint does not fit the model of the config '
            f'({len(lines)} mismatched keys):\n' + '\n'.join(lines[:30]))


def convert(src: str,
            dst: str,
            iccv: bool = False,
            config: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Convert ``src`` to the MMEngine checkpoint ``dst``.

    Returns:
        dict: the converted state dict.
    """
    authors = load_authors_checkpoint(src)
    naming = detect_naming(authors)
    model = build_model(config) if config else None
    if model is not None:
        exploration = getattr(model, 'exploration', None)
        shared = exploration is not None and \
            exploration.query_proj is model.inheritance.query_proj
        if exploration is not None and shared != iccv:
            raise CheckpointConversionError(
                f'{config}: model.share_query_proj={shared} but --iccv is '
                f'{"set" if iccv else "not set"}; they must agree')
    state = convert_state_dict(authors, share_query_proj=iccv)
    if model is not None:
        check_against_model(state, model)
    else:
        convert_state_dict(
            authors,
            expected=default_expected_keys(state, iccv),
            share_query_proj=iccv)
    meta = dict(
        converted_from=osp.abspath(src),
        converter='tools/model_converters/dldkd_to_prvr_mm.py',
        source_naming=naming,
        share_query_proj=iccv,
        config=osp.abspath(config) if config else None)
    torch.save(dict(meta=meta, state_dict=state), dst)
    return state


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an authors\' DL-DKD checkpoint to prvr_mm')
    parser.add_argument('src', metavar='IN', help='authors\' checkpoint')
    parser.add_argument('dst', metavar='OUT', help='output checkpoint')
    parser.add_argument(
        '--iccv',
        action='store_true',
        help='exploration branch shares the inheritance query projection '
        '(share_query_proj=True; needed for the ICCV A_/B_ naming)')
    parser.add_argument(
        '--config', help='prvr_mm config whose model must match exactly')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Convert, with the tools' error contract (:func:`run_tool`) also when
    called in-process."""
    run_tool(lambda: _convert(argv), argv)


def _convert(argv: Optional[Sequence[str]]) -> None:
    args = parse_args(argv)
    if args.config and not osp.isfile(args.config):
        raise PRVRConfigError(f'--config {args.config}: file not found')
    out_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(out_dir):
        raise PRVRConfigError(f'OUT {args.dst}: folder {out_dir} does not '
                              'exist; create it first')
    state = convert(args.src, args.dst, args.iccv, args.config)
    print(f'converted {len(state)} tensors: {args.src} -> {args.dst}')


if __name__ == '__main__':
    main()
