"""Test the best checkpoint of a finished training run: what
``tools/train.py --test-best`` does after ``runner.train()``."""
from typing import Dict

from mmengine.runner import Runner

from ..evaluation.functional import random_ranking_sumr


def test_best_checkpoint(runner: Runner) -> Dict[str, float]:
    """Load the best checkpoint saved during training and run the test loop.

    Args:
        runner (Runner): a Runner after ``train()``.

    Returns:
        dict: test metrics, plus ``random/SumR`` (random-ranking baseline on
        the same test split) and ``best_checkpoint``.
    """
    best = runner.message_hub.get_info('best_ckpt')
    if best is None:
        raise RuntimeError('no best checkpoint was recorded: train with '
                           'validation and CheckpointHook(save_best=...)')
    runner.load_checkpoint(best)
    metrics = dict(runner.test())
    num_videos = len(runner.test_dataloader.dataset)
    metrics['random/SumR'] = random_ranking_sumr(num_videos)
    metrics['best_checkpoint'] = best
    return metrics
