"""The pipeline transforms of one PRVR sample and their numpy helpers."""
import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose

from prvr_mm.datasets.transforms.functional import (average_to_fixed_length,
                                                    l2_normalize,
                                                    uniform_feature_sampling)


def _feats(t, d=3, start=0.0):
    return (np.arange(t * d, dtype=np.float32).reshape(t, d) + start)


def test_uniform_sampling_averages_segments():
    x = _feats(6)
    assert uniform_feature_sampling(x, 8) is x  # short: identity
    assert uniform_feature_sampling(x, None) is x
    # bounds round(linspace(0, 6, 4)) = 0, 2, 4, 6 clipped to T - 1 = 5 (the
    # authors' rule: the last segment drops the last row)
    out = uniform_feature_sampling(x, 3)
    assert np.allclose(out, [x[0:2].mean(0), x[2:4].mean(0), x[4]])
    assert out.dtype == np.float32
    # up-sampling repeats rows; down-sampling averages
    up = average_to_fixed_length(_feats(2), 4)
    assert up.shape == (4, 3) and np.allclose(up[0], _feats(2)[0])
    assert np.allclose(average_to_fixed_length(x, 3), out)
    # as many rows as segments: the rows themselves (what the segment means
    # give: width-1 segments and the authors' fallback for the last one)
    from prvr_mm.datasets.transforms.functional import (_segment_bounds,
                                                        _segment_means)
    assert average_to_fixed_length(x, 6) is x
    assert np.array_equal(_segment_means(x, *_segment_bounds(6, 6)), x)


def test_l2_normalize_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = l2_normalize(x, eps=0.0 + 1e-5)
    assert np.allclose(out[0], [0.6, 0.8], atol=1e-5)
    assert np.array_equal(out[1], [0.0, 0.0])


def test_align_teacher_clips_both_ways():
    align = TRANSFORMS.build(dict(type='AlignTeacherClips'))
    out = align(dict(video_feat=_feats(8), teacher_video_feat=_feats(4, 2)))
    assert out['video_feat'].shape == (4, 3)
    assert out['teacher_video_feat'].shape == (4, 2)
    out = align(dict(video_feat=_feats(3), teacher_video_feat=_feats(6, 2)))
    assert out['video_feat'].shape == (3, 3)
    assert out['teacher_video_feat'].shape == (3, 2)
    video = _feats(5)
    assert align(dict(video_feat=video))['video_feat'] is video


def test_sampling_truncation_and_normalisation():
    sample = TRANSFORMS.build(dict(type='UniformClipSampling', max_len=2))
    out = sample(dict(video_feat=_feats(6), teacher_video_feat=_feats(4, 2)))
    assert out['video_feat'].shape == (2, 3)
    assert out['teacher_video_feat'].shape == (2, 2)
    assert 'max_len=2' in repr(sample)
    with pytest.raises(ValueError, match='max_len must be >= 1'):
        TRANSFORMS.build(dict(type='UniformClipSampling', max_len=0))
    trunc = TRANSFORMS.build(dict(type='TruncateTokens', max_len=2))
    out = trunc(dict(query_feats=[_feats(5), _feats(1)]))
    assert [len(q) for q in out['query_feats']] == [2, 1]
    with pytest.raises(ValueError, match='max_len must be >= 1'):
        TRANSFORMS.build(dict(type='TruncateTokens', max_len=0))
    norm = TRANSFORMS.build(dict(type='L2Normalize'))
    out = norm(dict(video_feat=_feats(2, start=1), query_feats=[_feats(3)]))
    assert np.allclose(np.linalg.norm(out['video_feat'], axis=1), 1, atol=1e-4)
    assert np.allclose(
        np.linalg.norm(out['query_feats'][0][1:], axis=1), 1, atol=1e-4)


def test_pipeline_packs_a_sample():
    pipeline = Compose([
        dict(type='AlignTeacherClips'),
        dict(type='UniformClipSampling', max_len=4),
        dict(type='L2Normalize', keys=('video_feat', 'query_feats')),
        dict(type='TruncateTokens', max_len=3),
        dict(type='PackPRVRInputs'),
    ])
    out = pipeline(
        dict(
            video_id='v0',
            query_ids=['v0#enc#0', 'v0#enc#1'],
            duration=12.0,
            video_feat=_feats(10, start=1),
            teacher_video_feat=_feats(6, 2),
            query_feats=[_feats(5, 4), _feats(2, 4)],
            teacher_query_feats=[np.ones(2), np.zeros(2)]))
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs['video'].shape == (4, 3)
    assert inputs['teacher_video'].shape == (4, 2)
    assert inputs['queries'].shape == (2, 3, 4)
    assert inputs['query_lengths'].tolist() == [3, 2]
    assert torch.all(inputs['queries'][1, 2:] == 0)  # zero padded
    assert inputs['teacher_queries'].shape == (2, 2)
    assert all(
        v.dtype in (torch.float32, torch.int64) for v in inputs.values())
    assert sample.video_id == 'v0' and sample.num_clips == 4
    assert sample.duration == 12.0 and 'timestamps' not in sample
