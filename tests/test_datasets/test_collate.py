"""prvr_collate: one tensor per input key, shared memory from a worker, and
the same preprocessed batch as ``pseudo_collate``."""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import FUNCTIONS
from torch.utils.data import DataLoader, Dataset

from prvr_mm.datasets.collate import ITEM_SIZES, prvr_collate
from tests.helpers.batches import raw_batch


def _samples(**kwargs):
    """The per-sample dicts behind :func:`raw_batch`."""
    batch = raw_batch(**kwargs)
    inputs = batch['inputs']
    return [
        dict(
            inputs={
                k: v[i]
                for k, v in inputs.items()
            },
            data_samples=batch['data_samples'][i])
        for i in range(len(batch['data_samples']))
    ]


def test_concatenates_each_key_and_pads_tokens():
    samples = _samples(counts=(2, 1, 3), lengths=(6, 3, 4))
    batch = prvr_collate(samples)
    x, sizes = batch['inputs'], batch[ITEM_SIZES]
    assert sizes['video'] == [6, 3, 4] and sizes['queries'] == [2, 1, 3]
    assert x['video'].shape == (13, 12)
    assert torch.equal(x['video'][6:9], samples[1]['inputs']['video'])
    longest = max(s['inputs']['queries'].shape[1] for s in samples)
    assert x['queries'].shape == (6, longest, 10)
    for i, sample in enumerate(samples):  # zero padded tokens after each
        q = sample['inputs']['queries']
        start = sum(sizes['queries'][:i])
        rows = x['queries'][start:start + len(q)]
        assert torch.equal(rows[:, :q.shape[1]], q)
        assert not rows[:, q.shape[1]:].any()
    assert [s.video_id for s in batch['data_samples']] == ['v0', 'v1', 'v2']
    assert FUNCTIONS.get('prvr_collate') is prvr_collate


@pytest.mark.parametrize('training', [True, False])
def test_preprocessed_batch_equals_the_pseudo_collate_one(training):
    from mmengine.dataset import pseudo_collate
    pre = MODELS.build(dict(type='PRVRDataPreprocessor'))
    ours = pre(prvr_collate(_samples()), training)
    ref = pre(pseudo_collate(_samples()), training)
    assert sorted(ours['inputs']) == sorted(ref['inputs'])
    for key, value in ref['inputs'].items():
        assert torch.equal(ours['inputs'][key], value), key
    assert [s.video_id for s in ours['data_samples']] == \
        [s.video_id for s in ref['data_samples']]


class _Samples(Dataset):

    def __len__(self):
        return 3

    def __getitem__(self, idx):
        return _samples()[idx]


def test_a_worker_hands_over_shared_tensors():
    loader = DataLoader(
        _Samples(), batch_size=3, num_workers=1, collate_fn=prvr_collate)
    batch = next(iter(loader))
    expected = prvr_collate(_samples())
    for key, value in expected['inputs'].items():
        assert batch['inputs'][key].is_shared(), key
        assert torch.equal(batch['inputs'][key], value), key
    assert batch[ITEM_SIZES] == expected[ITEM_SIZES]


def test_rejects_samples_that_differ_in_keys_or_rank():
    samples = _samples()
    del samples[1]['inputs']['teacher_video']
    with pytest.raises(ValueError, match='sample 1 of the batch has inputs'):
        prvr_collate(samples)
    samples = _samples()
    samples[2]['inputs']['video'] = samples[2]['inputs']['video'][None]
    with pytest.raises(ValueError, match=r"inputs\['video'\]"):
        prvr_collate(samples)
    with pytest.raises(ValueError, match='empty batch'):
        prvr_collate([])


def test_build_collate_fn_reads_a_loader_config():
    from mmengine.dataset import pseudo_collate

    from prvr_mm.datasets.collate import build_collate_fn
    assert build_collate_fn(None) is pseudo_collate
    assert build_collate_fn(dict(type='prvr_collate')) is prvr_collate
    assert build_collate_fn('pseudo_collate') is pseudo_collate
    with pytest.raises(KeyError, match='not a registered function'):
        build_collate_fn(dict(type='no_such_collate'))
