"""``finish_distributed``: the tools destroy their process group after a run
that ended normally (gloo's threads must not outlive the interpreter)."""
import torch.distributed as dist

from prvr_mm.utils import finish_distributed


def test_finish_distributed_destroys_the_group(tmp_path):
    assert finish_distributed() is False  # no group: nothing to do
    dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path / "store"}',
        rank=0,
        world_size=1)
    try:
        assert dist.is_initialized()
        assert finish_distributed() is True
        assert not dist.is_initialized()
        assert finish_distributed() is False  # twice is harmless
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
