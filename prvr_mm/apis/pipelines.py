"""The video and the query pipelines of a search, cut from the config's
test pipeline: the same per-video and per-query transforms as evaluation,
without a dummy half.

The test pipeline transforms one video with all its queries
(``UniformClipSampling`` -> ``L2Normalize`` -> ``TruncateTokens`` ->
``PackPRVRInputs``). :func:`split_test_pipeline` sorts its steps by the
keys they read: a step with a ``keys`` argument goes to the side(s) whose
keys it lists (restricted to them), ``TruncateTokens`` to the query side,
teacher-only steps are dropped, and ``PackPRVRInputs`` becomes
:class:`~prvr_mm.datasets.transforms.search_transforms.PackPRVRVideo` /
``PackPRVRQuery``. The dataset and training path are untouched.
"""
import copy
from typing import List, Sequence, Tuple

from mmaction.registry import TRANSFORMS
from mmengine.config import Config
from mmengine.dataset import Compose

from ..datasets.transforms import search_transforms  # noqa: F401 (registry)
from ..errors import PRVRConfigError

__all__ = [
    'VIDEO_KEYS', 'QUERY_KEYS', 'test_pipeline_of', 'split_test_pipeline',
    'search_pipelines'
]

#: keys of a sample that belong to the video side
VIDEO_KEYS = ('video_feat', )
#: keys of a sample that belong to the query side
QUERY_KEYS = ('query_feats', )
# steps without a ``keys`` argument: the side they act on (None = dropped)
_KEYLESS = dict(
    TruncateTokens='query', AlignTeacherClips=None, PackPRVRInputs=None)


def _type_name(step: dict) -> str:
    kind = step.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1]


def test_pipeline_of(cfg: Config) -> List[dict]:
    """The dataset pipeline of the config's test (else val) loader.

    Raises:
        PRVRConfigError: the config has neither loader.
    """
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if loader is None:
        raise PRVRConfigError('the config has no test_dataloader (its '
                              'dataset pipeline defines the test transforms)')
    return copy.deepcopy(list(loader.dataset.pipeline))


def split_test_pipeline(pipeline: Sequence[dict]
                        ) -> Tuple[List[dict], List[dict]]:
    """Cut a test pipeline into its video steps and its query steps.

    Args:
        pipeline (Sequence[dict]): transform configs of one video with its
            queries (ending with ``PackPRVRInputs``).

    Returns:
        tuple[list[dict], list[dict]]: the video steps, ending with
        ``PackPRVRVideo``, and the query steps, ending with
        ``PackPRVRQuery``.

    Raises:
        PRVRConfigError: a step acts on neither side in a known way (e.g.
            raw-video decoding, which the search does not run).
    """
    video, query = [], []
    for step in pipeline:
        name = _type_name(step)
        if name in _KEYLESS:
            side = _KEYLESS[name]
            if side == 'query':
                query.append(dict(step))
            continue
        keys = getattr(TRANSFORMS.build(copy.deepcopy(step)), 'keys', None)
        if keys is None:
            raise PRVRConfigError(
                f'test pipeline step {name!r} has no `keys` argument, so the '
                f'search cannot tell whether it acts on the video '
                f'({VIDEO_KEYS}) or the queries ({QUERY_KEYS}); the search '
                f'runs clip-feature pipelines (known steps without keys: '
                f'{sorted(_KEYLESS)})')
        for side, side_keys in ((video, VIDEO_KEYS), (query, QUERY_KEYS)):
            mine = tuple(k for k in keys if k in side_keys)
            if mine:
                side.append(dict(step, keys=mine))
    return (video + [dict(type='PackPRVRVideo')],
            query + [dict(type='PackPRVRQuery')])


def search_pipelines(cfg: Config) -> Tuple[Compose, Compose]:
    """The video and query pipelines of a config (see the module doc).

    Args:
        cfg (Config): a loaded config (registry scope set).

    Returns:
        tuple[Compose, Compose]: ``(video, query)``: the video pipeline takes
        ``dict(video_id, video_feat (T, Dv), duration, video_path)``, the
        query pipeline ``dict(query_feats=[(L, Dq) array], query=text)``.
    """
    video, query = split_test_pipeline(test_pipeline_of(cfg))
    return Compose(video), Compose(query)
