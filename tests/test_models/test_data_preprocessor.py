"""PRVRDataPreprocessor: padding, flattening, the authors' batch order, and
the soft-row contract it shares with the InfoNCE loss."""
import pytest
import torch
from mmaction.registry import MODELS

from prvr_mm.models.batch_order import collate_order, num_hard_rows
from prvr_mm.models.losses import soft_infonce
from tests.helpers.batches import raw_batch


@pytest.fixture
def preprocessor():
    return MODELS.build(dict(type='PRVRDataPreprocessor'))


def test_pads_flattens_and_sorts(preprocessor):
    data = preprocessor(raw_batch(), training=True)
    x = data['inputs']
    # sorted by number of queries, descending and stable: v2(3), v0(2), v1(1)
    assert [s.video_id for s in data['data_samples']] == ['v2', 'v0', 'v1']
    assert x['video'].shape == (3, 6, 12)
    assert x['video_mask'].sum(1).tolist() == [4, 6, 3]
    assert x['video_mask'].dtype == torch.float32
    assert x['query_to_video'].tolist() == [0, 0, 0, 1, 1, 2]
    assert x['query'].shape[:2] == x['query_mask'].shape
    assert x['teacher_video'].shape == (3, 6, 4)
    assert x['teacher_query'].shape == (6, 4)
    # the mask marks exactly the valid tokens, queries in the sorted order
    raw = raw_batch()['inputs']['query_lengths']
    expected = torch.cat([raw[2], raw[0], raw[1]])
    assert x['query_mask'].sum(1).long().tolist() == expected.tolist()
    # eval keeps the dataset order
    data = preprocessor(raw_batch(), training=False)
    assert data['inputs']['query_to_video'].tolist() == [0, 0, 1, 2, 2, 2]
    unsorted = MODELS.build(
        dict(type='PRVRDataPreprocessor', sort_by_queries=False))
    data = unsorted(raw_batch(), training=True)
    assert data['inputs']['query_to_video'].tolist() == [0, 0, 1, 2, 2, 2]


def test_rejects_misaligned_teacher(preprocessor):
    batch = raw_batch()
    batch['inputs']['teacher_video'][0] = torch.randn(5, 4)
    with pytest.raises(ValueError, match='teacher clip counts'):
        preprocessor(batch, training=True)


def test_collate_order_is_descending_and_stable():
    assert collate_order([1, 3, 2, 3, 1]) == [1, 3, 2, 0, 4]
    assert collate_order([]) == []
    assert num_hard_rows(10, 0.55) == 5
    assert num_hard_rows(7, 1.0) == 7 and num_hard_rows(7, 0.0) == 0


def test_soft_rows_are_the_videos_with_fewest_queries(preprocessor):
    """The contract end to end: after the preprocessor's order, only the
    rows past ``floor(alpha * N)`` (the last videos, i.e. those with the
    fewest queries, and their queries) read the soft-target source."""
    data = preprocessor(raw_batch(counts=(1, 3, 2)), training=True)
    labels = data['inputs']['query_to_video']
    assert [s.video_id for s in data['data_samples']] == ['v1', 'v2', 'v0']
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(len(labels), 3, generator=g)
    source = torch.randn(len(labels), 3, generator=g, requires_grad=True)
    alpha = 0.5  # hard: 3 of 6 query rows, 1 of 3 video rows
    soft_infonce(scores, labels, source, alpha, 0.2).backward()
    hard_q, hard_v = num_hard_rows(6, alpha), num_hard_rows(3, alpha)
    assert (hard_q, hard_v) == (3, 1)
    # the hard block (hard query rows x hard video columns) is never read
    assert source.grad[:hard_q, :hard_v].abs().sum() == 0
    # soft query rows: the queries of v2 (2 queries) and v0 (1 query)
    assert labels[hard_q:].tolist() == [1, 1, 2]
    assert (source.grad[hard_q:].abs().sum(1) > 0).all()
    assert (source.grad[:, hard_v:].abs().sum(0) > 0).all()
