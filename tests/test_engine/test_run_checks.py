"""Training settings that cannot work are refused before the first
iteration, with the numbers and the fix."""
import pytest
from mmengine.config import Config
from torch.utils.data import DataLoader

from prvr_mm.engine.run_checks import check_train_batches, check_train_config
from prvr_mm.errors import PRVRConfigError


def _cfg(**train_cfg):
    return Config(
        dict(
            train_cfg=dict(type='EpochBasedTrainLoop', **train_cfg),
            val_cfg=dict(),
            val_dataloader=dict()))


def test_run_length_and_interval():
    check_train_config(_cfg(max_epochs=1, val_interval=1))
    with pytest.raises(
            PRVRConfigError, match='max_epochs must be an '
            'integer >= 1, got 0'):
        check_train_config(_cfg(max_epochs=0))
    with pytest.raises(
            PRVRConfigError,
            match='val_interval must be an '
            'integer >= 1.*got 0.*--no-validate'):
        check_train_config(_cfg(max_epochs=3, val_interval=0))
    cfg = _cfg(max_epochs=3, val_interval=0)
    cfg.val_dataloader = None  # --no-validate: no interval used
    check_train_config(cfg)
    with pytest.raises(PRVRConfigError, match='max_iters'):
        check_train_config(
            Config(
                dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=0))))


def _loader(videos, batch_size, drop_last=False):
    return DataLoader(
        list(range(videos)), batch_size=batch_size, drop_last=drop_last)


@pytest.mark.parametrize('videos,batch_size,drop_last', [(24, 8, False),
                                                         (25, 8, True),
                                                         (2, 2, False),
                                                         (26, 8, False)])
def test_usable_batches_pass(videos, batch_size, drop_last):
    check_train_batches(_loader(videos, batch_size, drop_last))


def test_one_video_split():
    with pytest.raises(PRVRConfigError, match='has 1 video'):
        check_train_batches(_loader(1, 8, drop_last=True))


def test_batch_of_one():
    with pytest.raises(PRVRConfigError, match='batch_size=1'):
        check_train_batches(_loader(24, 1))


def test_drop_last_without_a_batch():
    with pytest.raises(
            PRVRConfigError,
            match='has 24 video.*fewer than train_dataloader.'
            'batch_size=32 with drop_last=True.*batch_size=24'):
        check_train_batches(_loader(24, 32, drop_last=True))


def test_last_batch_of_one_video():
    with pytest.raises(PRVRConfigError) as err:
        check_train_batches(_loader(25, 8))
    message = str(err.value)
    assert 'has 25 videos and train_dataloader.batch_size=8: the last ' \
           'batch of every epoch would hold 1 video' in message
    assert 'drop_last=True' in message and 'batch_size=7' in message
    # with gather_negatives over several processes the global batch counts
    check_train_batches(_loader(25, 8), world_size=2, gather_negatives=True)
