"""Training settings that cannot work are refused before anything runs.

``tools/train.py`` calls :func:`check_train_config` on the resolved config
(before the Runner is built) and :func:`check_train_batches` on the built
training dataloader (before the first iteration): the triplet and InfoNCE
losses compare the videos of a batch, so a split or a batch of fewer than
two videos would otherwise fail at the last iteration of an epoch, before
any checkpoint was written.
"""
from typing import Optional

from mmengine.config import Config

from ..errors import PRVRConfigError

#: the losses need this many videos in every batch
MIN_VIDEOS = 2


def check_train_config(cfg: Config) -> Config:
    """Refuse a run length or validation interval below 1.

    Args:
        cfg (Config): the resolved training config.

    Returns:
        Config: ``cfg``.

    Raises:
        PRVRConfigError: naming the key, the value and the fix.
    """
    train_cfg = cfg.get('train_cfg') or {}
    iter_based = 'IterBased' in str(train_cfg.get(
        'type', '')) or ('max_iters' in train_cfg
                         and 'max_epochs' not in train_cfg)
    key = 'max_iters' if iter_based else 'max_epochs'
    value = train_cfg.get(key)
    if value is not None and (not isinstance(value, int) or value < 1):
        raise PRVRConfigError(
            f'train_cfg.{key} must be an integer >= 1, got {value!r} '
            f'(--cfg-options train_cfg.{key}=N)')
    validates = cfg.get('val_dataloader') is not None and \
        cfg.get('val_cfg') is not None
    interval = train_cfg.get('val_interval', 1)
    if validates and (not isinstance(interval, int) or interval < 1):
        raise PRVRConfigError(
            f'train_cfg.val_interval must be an integer >= 1 (validate every '
            f'N {"iterations" if iter_based else "epochs"}), got '
            f'{interval!r}; to train without validation use '
            'tools/train.py --no-validate')
    return cfg


def _batch_size_hint(samples: int, batch_size: int) -> Optional[int]:
    """The batch size nearest ``batch_size`` whose last batch is not a
    single video."""
    for delta in range(1, batch_size):
        for size in (batch_size - delta, batch_size + delta):
            if MIN_VIDEOS <= size <= samples and samples % size != 1:
                return size
    return None


def check_train_batches(dataloader,
                        world_size: int = 1,
                        gather_negatives: bool = False) -> None:
    """Refuse a training split or batch that the losses cannot use.

    * fewer than two videos in the split;
    * ``batch_size`` 1;
    * ``drop_last=True`` with fewer videos per process than ``batch_size``
      (an epoch without a batch);
    * a last batch of one video (the videos per process modulo
      ``batch_size`` is 1): refused with the numbers and the two fixes
      (``drop_last=True`` drops that video from each epoch, a different one
      every epoch with shuffling; or another batch size).

    Per process (the sampler's share); with ``gather_negatives`` across
    several processes the losses see the global batch, so only the split
    size is checked.

    Args:
        dataloader: the built training ``DataLoader``.
        world_size (int): number of processes.
        gather_negatives (bool): the model's ``gather_negatives``.

    Raises:
        PRVRConfigError: with the numbers and the fix.
    """
    dataset = dataloader.dataset
    try:
        videos = len(dataset)
    except TypeError:
        return
    split = getattr(dataset, 'ann_file', None)
    where = f' ({split})' if split else ''
    if videos < MIN_VIDEOS:
        raise PRVRConfigError(
            f'the training split{where} has {videos} video(s): the triplet '
            'and InfoNCE losses compare the videos of a batch and need at '
            f'least {MIN_VIDEOS}; use a split of {MIN_VIDEOS} or more videos')
    batch_size = getattr(dataloader, 'batch_size', None)
    if batch_size is None or (gather_negatives and world_size > 1):
        return
    sampler = getattr(dataloader, 'sampler', None)
    try:
        samples = len(sampler)
    except TypeError:
        samples = -(-videos // world_size)
    per = ' per process' if world_size > 1 else ''
    if batch_size < MIN_VIDEOS:
        raise PRVRConfigError(
            f'train_dataloader.batch_size={batch_size}: the triplet and '
            f'InfoNCE losses need at least {MIN_VIDEOS} videos per batch; '
            '--cfg-options train_dataloader.batch_size=N with N >= 2')
    if dataloader.drop_last and samples < batch_size:
        raise PRVRConfigError(
            f'the training split{where} has {samples} video(s){per}, fewer '
            f'than train_dataloader.batch_size={batch_size} with '
            'drop_last=True: an epoch would have no batch. Use '
            f'--cfg-options train_dataloader.batch_size={samples}'
            if samples >= MIN_VIDEOS else
            f'the training split{where} has {samples} video(s){per}: too '
            'few for a batch of two')
    if not dataloader.drop_last and samples % batch_size == 1:
        hint = _batch_size_hint(samples, batch_size)
        raise PRVRConfigError(
            f'the training split{where} has {samples} videos{per} and '
            f'train_dataloader.batch_size={batch_size}: the last batch of '
            'every epoch would hold 1 video, and the triplet and InfoNCE '
            f'losses need at least {MIN_VIDEOS} (training would fail at the '
            'last iteration of the first epoch). Use --cfg-options '
            'train_dataloader.drop_last=True (drops one video from each '
            'epoch, a different one every epoch when shuffling)' +
            (f' or train_dataloader.batch_size={hint}' if hint else ''))


def check_runner_batches(runner) -> None:
    """:func:`check_train_batches` on a Runner's training dataloader
    (building it, as ``runner.train()`` would)."""
    from mmengine.model import is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) else \
        runner.model
    check_train_batches(
        runner.train_dataloader,
        world_size=runner.world_size,
        gather_negatives=bool(getattr(model, 'gather_negatives', False)))
