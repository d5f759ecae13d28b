"""Key mapping from the authors' DL-DKD checkpoints to prvr_mm names.

The authors' ``DLDKD.state_dict()`` keys (both the ``master`` (DL-DKD++) and
the ``iccv`` naming) map one to one onto :class:`DualStudentRecognizer`
keys; unknown or missing keys are errors, never silently dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional

# authors' module path (without the exp_ prefix) -> PRVRBranch module path
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

_KEY_RE = re.compile(r'^(?P<exp>exp_)?(?P<module>.+)\.(?P<param>weight|bias)$')


class CheckpointConversionError(KeyError):
    """A key of the authors' checkpoint cannot be mapped (or is missing)."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def convert_key(key: str) -> str:
    """Map one authors' key to the prvr_mm key.

    Args:
        key (str): e.g. ``exp_visual_encoder.self.query.weight``.

    Returns:
        str: e.g. ``exploration.video_encoder.query.weight``.

    Raises:
        CheckpointConversionError: the key is not a DL-DKD parameter.
    """
    match = _KEY_RE.match(key.removeprefix('module.'))
    if match is None or match['module'] not in _MODULES:
        raise CheckpointConversionError(
            f'unknown key {key!r} in the DL-DKD checkpoint: it is not a '
            'parameter of the DL-DKD model (master or iccv naming)')
    branch = 'exploration' if match['exp'] else 'inheritance'
    return f"{branch}.{_MODULES[match['module']]}.{match['param']}"


def convert_state_dict(state: Mapping,
                       expected: Optional[Iterable[str]] = None,
                       share_query_proj: bool = False) -> Dict:
    """Convert a whole authors' state dict.

    Args:
        state (Mapping): the authors' ``model.state_dict()`` (a ``module.``
            prefix from DataParallel is accepted).
        expected (Iterable[str], optional): the target model's keys; when
            given, missing ones are an error.
        share_query_proj (bool): the ICCV variant, where the exploration
            branch has no query input projection of its own: it is
            filled from the inheritance one.

    Returns:
        dict: prvr_mm key -> tensor.
    """
    out = OrderedDict((convert_key(k), v) for k, v in state.items())
    if share_query_proj:
        for key in list(out):
            if key.startswith('inheritance.query_proj.'):
                out.setdefault(key.replace('inheritance', 'exploration', 1),
                               out[key])
    if expected is not None:
        missing = sorted(set(expected) - set(out))
        if missing:
            raise CheckpointConversionError(
                f'the DL-DKD checkpoint lacks {len(missing)} parameter(s) of '
                f'the prvr_mm model, e.g. {missing[:5]}')
    return out
