"""Key mapping from the authors' DL-DKD checkpoints to prvr_mm names.

Two namings of the authors' ``DLDKD.state_dict()`` are supported:

* ``master`` (DL-DKD++): inheritance modules without prefix
  (``query_encoder``, ``visual_input_proj``, ``out_mapping_linear``...),
  exploration modules with the ``exp_`` prefix;
* ``iccv`` (the ICCV 2023 release): ``B_`` = inheritance and ``A_`` =
  exploration, ``frame_*`` instead of ``visual_*`` and ``mapping_linear``
  instead of ``out_mapping_linear``.  In that model the exploration branch
  encodes queries with the INHERITANCE input projection
  (``B_query_input_proj``); its own ``A_query_input_proj`` is built but never
  used, so such checkpoints need ``share_query_proj=True`` and the unused
  projection is dropped.

Every used key maps one to one onto a :class:`DualStudentRecognizer` key;
unknown or missing keys are errors, never silently dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional

from ..errors import CheckpointError

# authors' module path (without the branch prefix) -> PRVRBranch module path
_MODULES = OrderedDict([
    ('query_pos_embed.position_embeddings', 'query_pos.embedding'),
    ('query_pos_embed.LayerNorm', 'query_pos.norm'),
    ('query_input_proj.LayerNorm', 'query_proj.norm'),
    ('query_input_proj.net.1', 'query_proj.linear'),
    ('query_encoder.self.query', 'query_encoder.query'),
    ('query_encoder.self.key', 'query_encoder.key'),
    ('query_encoder.self.value', 'query_encoder.value'),
    ('query_encoder.output.dense', 'query_encoder.dense'),
    ('query_encoder.output.LayerNorm', 'query_encoder.norm'),
    ('modular_vector_mapping', 'query_pool.score'),
    ('visual_pos_embed.position_embeddings', 'video_pos.embedding'),
    ('visual_pos_embed.LayerNorm', 'video_pos.norm'),
    ('visual_input_proj.LayerNorm', 'video_proj.norm'),
    ('visual_input_proj.net.1', 'video_proj.linear'),
    ('visual_encoder.self.query', 'video_encoder.query'),
    ('visual_encoder.self.key', 'video_encoder.key'),
    ('visual_encoder.self.value', 'video_encoder.value'),
    ('visual_encoder.output.dense', 'video_encoder.dense'),
    ('visual_encoder.output.LayerNorm', 'video_encoder.norm'),
    ('out_mapping_linear', 'clip_proj'),
])

# the ICCV release names the video side ``frame_*`` and the clip projection
# ``mapping_linear``; the query side and the sub-module names are the same
_ICCV_MODULES = OrderedDict((k.replace('visual_', 'frame_').replace(
    'out_mapping_linear', 'mapping_linear'), v) for k, v in _MODULES.items())

_KEY_RE = re.compile(
    r'^(?P<prefix>exp_|A_|B_)?(?P<module>.+)\.(?P<param>weight|bias)$')
# master prefix / iccv prefix -> branch
_BRANCHES = {
    None: 'inheritance',
    'exp_': 'exploration',
    'B_': 'inheritance',
    'A_': 'exploration'
}
# built but never used by the authors' ICCV forward (shared query proj)
_ICCV_UNUSED = 'A_query_input_proj.'


class CheckpointConversionError(CheckpointError, KeyError):
    """A key of the authors' checkpoint cannot be mapped (or is missing)."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def _strip(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def convert_key(key: str) -> str:
    """Map one authors' key (master or iccv naming) to the prvr_mm key.

    Args:
        key (str): e.g. ``exp_visual_encoder.self.query.weight`` or
            ``A_frame_encoder.self.query.weight``.

    Returns:
        str: e.g. ``exploration.video_encoder.query.weight``.

    Raises:
        CheckpointConversionError: the key is not a DL-DKD parameter.
    """
    match = _KEY_RE.match(_strip(key))
    table = _ICCV_MODULES if match and match['prefix'] in ('A_',
                                                           'B_') else _MODULES
    if match is None or match['module'] not in table:
        raise CheckpointConversionError(
            f'unknown key {key!r} in the DL-DKD checkpoint: it is not a '
            'parameter of the DL-DKD model (master or iccv naming)')
    branch = _BRANCHES[match['prefix']]
    return f"{branch}.{table[match['module']]}.{match['param']}"


def detect_naming(state: Mapping) -> str:
    """``'iccv'`` (``A_``/``B_`` prefixes) or ``'master'``.

    Raises:
        CheckpointConversionError: both namings are mixed.
    """
    iccv = [_strip(k).startswith(('A_', 'B_')) for k in state]
    if any(iccv) and not all(iccv):
        bad = [k for k, i in zip(state, iccv) if not i][:3]
        raise CheckpointConversionError(
            'the DL-DKD checkpoint mixes the iccv (A_/B_) and master '
            f'namings, e.g. {bad}')
    return 'iccv' if iccv and all(iccv) else 'master'


def convert_state_dict(state: Mapping,
                       expected: Optional[Iterable[str]] = None,
                       share_query_proj: bool = False) -> Dict:
    """Convert a whole authors' state dict (master or iccv naming).

    Args:
        state (Mapping): the authors' ``model.state_dict()`` (a ``module.``
            prefix from DataParallel is accepted).
        expected (Iterable[str], optional): the target model's keys; when
            given, missing and unexpected keys are errors.
        share_query_proj (bool): the target model shares the inheritance
            query input projection with the exploration branch (the ICCV
            variant): ``exploration.query_proj.*`` are filled from
            ``inheritance.query_proj.*``.  The iccv naming requires it (its
            unused ``A_query_input_proj`` is dropped); a master checkpoint
            with its own, different ``exp_query_input_proj`` cannot be
            represented and is an error.

    Returns:
        dict: prvr_mm key -> tensor.
    """
    naming = detect_naming(state)
    if naming == 'iccv' and not share_query_proj:
        raise CheckpointConversionError(
            'this is an iccv-naming (A_/B_) DL-DKD checkpoint: its '
            'exploration branch uses the inheritance query projection '
            '(B_query_input_proj; A_query_input_proj is unused), so the '
            'model must be built with share_query_proj=True')
    out = OrderedDict()
    for key, value in state.items():
        if naming == 'iccv' and _strip(key).startswith(_ICCV_UNUSED):
            continue
        out[convert_key(key)] = value
    if share_query_proj and any(k.startswith('exploration.') for k in out):
        for key in [k for k in out if k.startswith('inheritance.query_proj.')]:
            exp_key = 'exploration' + key[len('inheritance'):]
            own = out.get(exp_key)
            same = own is not None and own.shape == out[key].shape and bool(
                (own == out[key]).all())
            if own is not None and not same:
                raise CheckpointConversionError(
                    f'{exp_key!r}: the checkpoint has its own exploration '
                    'query projection, different from the inheritance one; '
                    'it cannot be loaded into a share_query_proj=True model')
            out[exp_key] = out[key]
    if expected is not None:
        expected = set(expected)
        missing = sorted(expected - set(out))
        if missing:
            raise CheckpointConversionError(
                f'the DL-DKD checkpoint lacks {len(missing)} parameter(s) of '
                f'the prvr_mm model, e.g. {missing[:5]}')
        unexpected = sorted(set(out) - expected)
        if unexpected:
            raise CheckpointConversionError(
                f'the DL-DKD checkpoint has {len(unexpected)} parameter(s) '
                f'that the prvr_mm model lacks, e.g. {unexpected[:5]}')
    return out
