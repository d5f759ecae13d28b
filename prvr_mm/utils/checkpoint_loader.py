"""Reads checkpoint files with errors that name the file, and checks that
a checkpoint's weights fit the model exactly.

* :func:`load_local_checkpoint` is MMEngine's loader of local files once
  :func:`register_checkpoint_loader` ran. ``import prvr_mm`` does not run
  it (it would change checkpoint loading for every model of the process);
  our ``tools/train.py`` and ``tools/test.py`` call it, so their
  ``load_from``, ``--resume``, test checkpoint and ``Pretrained`` init get
  named errors for empty, truncated or refused (unsafe) files. Without it
  (e.g. mmaction2's own tools) MMEngine's loader reads the same files with
  the same safety (``weights_only=True`` and the allow-list of
  :mod:`~prvr_mm.utils.checkpoint`), with torch's messages;
* :func:`check_checkpoint_matches` lists every mismatched key and shape
  (``StrictCheckpointHook`` runs it for every Runner load;
  :func:`load_model_checkpoint` for tools that build the model themselves).
"""
import os.path as osp
import pickle
import re
import struct
from collections import OrderedDict
from typing import List, Mapping, Optional

import torch

from ..errors import CheckpointError


class CheckpointFileError(CheckpointError):
    """A checkpoint file that cannot be used: empty, incomplete, corrupted
    or refused by the safe unpickler.  The message names the file."""


class UnsafeCheckpointError(CheckpointFileError):
    """A checkpoint whose pickle references a global outside the allow-list
    (a class or function that could run code); it is never executed."""


class CheckpointNotFoundError(CheckpointFileError, FileNotFoundError):
    """A checkpoint path that does not exist (also a ``FileNotFoundError``,
    what this check raised before)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model of the config."""


# (id of the checkpoint object, file) of the last file read by
# :func:`load_local_checkpoint`, to name it in mismatch errors
_last_loaded = (None, None)

_INCOMPLETE = ('central directory', 'unexpected EOF', 'PytorchStreamReader',
               'truncated', 'corrupted')


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Read a local checkpoint with ``torch.load(weights_only=True)``, with
    errors that name the file and say what is wrong with it.

    Once :func:`register_checkpoint_loader` ran (our tools), MMEngine's
    loader of local paths, so ``load_from``, ``--resume``, ``tools/test.py``
    and ``init_cfg=dict(type='Pretrained')`` read files through it.

    Args:
        filename (str): path of the checkpoint (``~`` expanded).
        map_location: as :func:`torch.load`.

    Returns:
        dict: the checkpoint.

    Raises:
        CheckpointNotFoundError: no such file (a ``FileNotFoundError``).
        CheckpointFileError: empty, truncated or corrupted file, or a pickle
            referencing a global outside the allow-list (never executed).
    """
    global _last_loaded
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise CheckpointFileError(_directory_message(filename))
    if not osp.isfile(filename):
        raise CheckpointNotFoundError(f'checkpoint {filename} does not exist')
    size = osp.getsize(filename)
    if size == 0:
        raise CheckpointFileError(
            f'checkpoint {filename} is empty (0 bytes): it is incomplete, '
            'probably written by a run killed while saving; use an earlier '
            'checkpoint')
    foreign = _not_a_checkpoint(filename)
    if foreign:
        raise CheckpointFileError(foreign)
    try:
        checkpoint = torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'GLOBAL ([\w.]+)', str(err))
        what = found.group(1) if found else 'an object'
        hint = (' (a checkpoint of the authors\' DL-DKD code? convert it '
                'with tools/model_converters/dldkd_to_prvr_mm.py)'
                if what.startswith('easydict') else '')
        if found or 'Weights only load failed' in str(err):
            raise UnsafeCheckpointError(
                f'refusing to load checkpoint {filename}: it references '
                f'{what}, which is not a tensor, container or MMEngine '
                f'checkpoint type; unpickling it could run code{hint}. Only '
                'load checkpoints from sources you trust, and convert foreign '
                'ones with tools/model_converters/') from None
        raise CheckpointFileError(
            f'checkpoint {filename} ({size} bytes) is incomplete or '
            f'corrupted: {err}') from None
    except (EOFError, struct.error) as err:
        raise CheckpointFileError(
            f'checkpoint {filename} ({size} bytes) is incomplete (the file '
            f'ends early: {type(err).__name__}); it was probably written by '
            'a run killed while saving; use an earlier checkpoint') from None
    except PermissionError as err:
        raise CheckpointFileError(
            f'cannot read checkpoint {filename}: {err}') from None
    except (RuntimeError, OSError) as err:
        if isinstance(err, OSError) or any(s in str(err) for s in _INCOMPLETE):
            raise CheckpointFileError(
                f'checkpoint {filename} ({size} bytes) is incomplete or '
                'corrupted (truncated: no zip central directory / early end '
                'of data); it was probably written by a run killed while '
                'saving or copied partially; use an earlier checkpoint or '
                'copy it again') from None
        raise
    _last_loaded = (id(checkpoint), filename)
    return checkpoint


#: how PyTorch checkpoint files start: a zip archive (torch.save since
#: 1.6) or a pickle of protocol 2+ (the legacy format)
_ZIP_MAGIC, _PICKLE_MAGIC = b'PK\x03\x04', b'\x80'


def _directory_message(path: str) -> str:
    """The error for a directory given as a checkpoint."""
    import glob
    found = sorted(glob.glob(osp.join(path, 'best_*.pth'))) or sorted(
        glob.glob(osp.join(path, '*.pth')), key=osp.getmtime)[-1:]
    example = found[0] if found else osp.join(path, 'best_....pth')
    return (f'checkpoint {path} is a directory, expected a checkpoint file '
            f'(e.g. {example})')


def _not_a_checkpoint(filename: str) -> Optional[str]:
    """The error for a file that is no PyTorch checkpoint at all (a git-lfs
    pointer, a web page, other bytes), None for a plausible checkpoint."""
    try:
        with open(filename, 'rb') as f:
            head = f.read(512)
    except OSError:
        return None  # torch.load names the problem
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC) or \
            head[257:262] == b'ustar':  # torch < 1.6 tar checkpoints
        return None
    try:
        text = head[:40].decode('utf-8')
    except UnicodeDecodeError:
        text = None
    if text is None or not all(c.isprintable() or c in '\r\n\t' for c in text):
        text = head[:16]  # bytes, shown as such
    else:
        text = text.replace('\r', ' ').replace('\n', ' ')
    lowered = head.lstrip().lower()
    if lowered.startswith(b'version https://git-lfs'):
        fix = ('it is a git-lfs pointer file, not the file itself: run '
               'git lfs pull in its repository (or download the file '
               'itself)')
    elif lowered.startswith((b'<!doctype html', b'<html', b'<?xml', b'<')):
        fix = ('it is a web page (HTML), probably saved from a download '
               'link that needs a login or a confirmation: download the '
               'checkpoint file itself again')
    else:
        fix = ('it is neither a zip archive (torch.save) nor a pickle: '
               'download or copy the checkpoint again')
    return (f'checkpoint {filename} is not a PyTorch checkpoint (starts '
            f'with {text!r}): {fix}')


def loaded_from(checkpoint: object) -> Optional[str]:
    """The file ``checkpoint`` was read from by
    :func:`load_local_checkpoint`, if it was the last one it read."""
    return _last_loaded[1] if _last_loaded[0] == id(checkpoint) else None


def register_checkpoint_loader() -> None:
    """Make :func:`load_local_checkpoint` MMEngine's loader of local files.

    Process-wide (``CheckpointLoader`` is a class registry): call it from an
    entry point (``tools/train.py``, ``tools/test.py``), not on import. It
    loosens nothing: the files are read with ``weights_only=True`` as
    MMEngine's own loader reads them on torch >= 2.6.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)


def state_dict_of(checkpoint: Mapping) -> Mapping:
    """The model weights of a loaded checkpoint (``state_dict`` of an
    MMEngine checkpoint, or the checkpoint itself when it is a bare state
    dict), without a DDP ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, Mapping) else checkpoint
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(
            f'the checkpoint holds a {type(state).__name__}, not a dict of '
            'weights')
    return OrderedDict(
        (re.sub(r'^module\.', '', k), v) for k, v in state.items())


def mismatches(model: torch.nn.Module, state: Mapping) -> List[str]:
    """Keys of ``state`` that do not fit ``model``, one line each.

    Args:
        model (nn.Module): the model to load into.
        state (Mapping): key -> tensor.

    Returns:
        list[str]: size mismatches (with both shapes), then keys the model
        has and the checkpoint lacks, then keys the model does not have.
    """
    expected = model.state_dict()
    lines = []
    for key, value in state.items():
        if key in expected and hasattr(value, 'shape') and \
                tuple(value.shape) != tuple(expected[key].shape):
            lines.append(f'  size mismatch {key}: checkpoint '
                         f'{tuple(value.shape)}, model '
                         f'{tuple(expected[key].shape)}')
    lines += [
        f'  missing in checkpoint {k}: model {tuple(v.shape)}'
        for k, v in expected.items() if k not in state
    ]
    lines += [
        f'  unexpected in checkpoint {k}: '
        f'{tuple(getattr(v, "shape", ()))}' for k, v in state.items()
        if k not in expected
    ]
    return lines


def check_checkpoint_matches(model: torch.nn.Module,
                             checkpoint: Mapping,
                             filename: Optional[str] = None,
                             max_lines: int = 30) -> None:
    """Raise unless the checkpoint's weights fit ``model`` exactly.

    Args:
        model (nn.Module): the model (unwrapped).
        checkpoint (Mapping): a loaded checkpoint or state dict.
        filename (str, optional): named in the error.
        max_lines (int): mismatched keys listed at most. Defaults to 30.

    Raises:
        CheckpointMismatchError: with every mismatched key and shape (up to
        ``max_lines``), so that metrics of half-random weights are never
        reported.
    """
    lines = mismatches(model, state_dict_of(checkpoint))
    if not lines:
        return
    shown = lines[:max_lines]
    if len(lines) > max_lines:
        shown.append(f'  ... and {len(lines) - max_lines} more')
    raise CheckpointMismatchError(
        f'checkpoint {filename or "(unnamed)"} does not fit the model of the '
        f'config ({len(lines)} mismatched keys):\n' + '\n'.join(shown) +
        '\nIt was trained with another architecture or other dimensions: '
        'use the config it was trained with (its text is in '
        "checkpoint['meta']['cfg']) or fix the model settings (e.g. "
        'hidden_dim, video_dim, double_branch, share_query_proj).')


def load_model_checkpoint(model: torch.nn.Module,
                          filename: str,
                          map_location='cpu') -> dict:
    """Load ``filename`` into ``model`` strictly (for tools that build the
    model themselves, e.g. plots and search).

    Returns:
        dict: the loaded checkpoint.
    """
    checkpoint = load_local_checkpoint(filename, map_location)
    check_checkpoint_matches(model, checkpoint, filename)
    model.load_state_dict(state_dict_of(checkpoint), strict=True)
    return checkpoint
