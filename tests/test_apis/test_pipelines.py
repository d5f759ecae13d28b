"""``prvr_mm.apis.pipelines``: the video and query halves of a test
pipeline give what the full pipeline gives, with no dummy inputs."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

from prvr_mm.apis import search_pipelines, split_test_pipeline
from prvr_mm.errors import PRVRConfigError
from tests.helpers.tools import TINY_TOY_CFG


def test_halves_match_the_full_pipeline():
    cfg = Config.fromfile(TINY_TOY_CFG)
    full = Compose(cfg.test_dataloader.dataset.pipeline)
    video, query = search_pipelines(cfg)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 32)).astype(np.float32)
    tokens = [rng.normal(size=(n, 16)).astype(np.float32) for n in (3, 40)]
    ref = full(
        dict(
            video_id='v',
            query_ids=['a', 'b'],
            video_feat=feats.copy(),
            query_feats=[t.copy() for t in tokens],
            duration=12.0))
    packed = video(dict(video_id='v', video_feat=feats.copy(), duration=12.0))
    assert torch.equal(packed['inputs']['video'], ref['inputs']['video'])
    meta = packed['data_samples'].metainfo
    assert meta['video_id'] == 'v' and meta['duration'] == 12.0
    assert meta['num_clips'] == len(ref['inputs']['video'])
    for i, t in enumerate(tokens):
        one = query(dict(query_feats=[t.copy()], query='words'))
        n = int(ref['inputs']['query_lengths'][i])
        assert torch.equal(one['inputs']['query'],
                           ref['inputs']['queries'][i, :n])
        assert one['data_samples'].query == 'words'


def test_split_by_keys():
    pipeline = [
        dict(type='AlignTeacherClips'),
        dict(type='UniformClipSampling', max_len=8),
        dict(type='L2Normalize', keys=('query_feats', )),
        dict(type='TruncateTokens', max_len=4),
        dict(type='PackPRVRInputs'),
    ]
    video, query = split_test_pipeline(pipeline)
    assert video == [
        dict(type='UniformClipSampling', max_len=8, keys=('video_feat', )),
        dict(type='PackPRVRVideo')
    ]
    assert query == [
        dict(type='L2Normalize', keys=('query_feats', )),
        dict(type='TruncateTokens', max_len=4),
        dict(type='PackPRVRQuery')
    ]
    with pytest.raises(PRVRConfigError, match="'CheckedPyAVDecode'"):
        split_test_pipeline([dict(type='CheckedPyAVDecode')])
