"""Distributed training on CPU-only machines (gloo) with the MMEngine Runner.

MMEngine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and
the Runner wraps the model with ``device_ids=[LOCAL_RANK]``; both are fatal
without a GPU.  When launched by ``torchrun`` on a machine without CUDA, the
tools call :func:`init_cpu_distributed` before building the Runner and
:func:`use_cpu_ddp_wrapper` on the config.  GPU behaviour is unchanged.

After a run that ended normally the tools call :func:`finish_distributed`:
a process that exits with its process group alive can abort at interpreter
shutdown (``terminate called without an active exception``, SIGABRT: gloo's
worker threads still hold work whose tensors reference Python objects;
pytorch/pytorch#190489 and #179291), which ``torchrun`` reports as a failed
run after the training had finished.
"""
import datetime
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

from ..errors import PRVRConfigError


def init_cpu_distributed(launcher: str, timeout_s: int = 1800) -> bool:
    """Initialise a gloo process group when launched without CUDA.

    Args:
        launcher (str): the ``--launcher`` flag (``'none'``, ``'pytorch'``,
            ``'slurm'``, ``'mpi'``).
        timeout_s (int): collective timeout in seconds. Defaults to 1800.

    Returns:
        bool: whether a CPU process group was initialised here.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if dist.is_available() and dist.is_initialized():
        return True
    if launcher != 'pytorch':
        raise PRVRConfigError(
            f'launcher={launcher!r} on a machine without CUDA: only '
            "'pytorch' (torchrun) is supported for CPU distributed runs")
    missing = [
        v for v in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR') if v not in os.environ
    ]
    if missing:
        raise PRVRConfigError(
            f'--launcher pytorch but {", ".join(missing)} not set: start the '
            'tool with torchrun (python -m torch.distributed.run '
            '--nproc_per_node=N tools/train.py ... --launcher pytorch, or '
            'tools/dist_train.sh), or drop --launcher for one process')
    dist.init_process_group(
        backend='gloo', timeout=datetime.timedelta(seconds=timeout_s))
    return True


def use_cpu_ddp_wrapper(cfg: Config) -> None:
    """Make the Runner wrap the model in DDP without ``device_ids`` (CPU).

    Args:
        cfg (Config): the config to modify in place.
    """
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'


def finish_distributed() -> bool:
    """Destroy the default process group, if there is one.

    Call it only when every rank ended its work normally: destroying the
    group while another rank still waits in a collective could block.

    Returns:
        bool: whether a process group was destroyed.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.destroy_process_group()
    return True
