"""Helpers of the command-line tools that need a built Runner."""
from typing import Dict, Sequence

from mmengine.runner import Runner


def random_ranking_sumr(num_videos: int,
                        ks: Sequence[int] = (1, 5, 10, 100)) -> float:
    """Expected SumR of a uniformly random ranking (one positive/query)."""
    return sum(100.0 * min(k, num_videos) / num_videos for k in ks)


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
                           "validation and CheckpointHook(save_best=...)")
    runner.load_checkpoint(best)
    metrics = dict(runner.test())
    num_videos = len(runner.test_dataloader.dataset)
    metrics['random/SumR'] = random_ranking_sumr(num_videos)
    metrics['best_checkpoint'] = best
    return metrics
