"""Running the command-line tools in tests: paths, subprocess, checkpoints."""
import os
import os.path as osp
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The toy DL-DKD config shrunk to the dimensions of ``conftest.TINY_TOY``.
TINY_TOY_CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')


def tool(*parts: str) -> str:
    """Path of a script under ``tools/``."""
    return osp.join(ROOT, 'tools', *parts)


def run_tool(*args, cwd: str, check: bool = True, threads: int = 1):
    """Run ``python *args`` with this checkout's ``prvr_mm`` on the path.

    Args:
        *args: script and its arguments.
        cwd (str): working directory.
        check (bool): assert a zero exit status (the output tails are the
            message). Defaults to True.
        threads (int): ``OMP_NUM_THREADS`` of the subprocess.

    Returns:
        subprocess.CompletedProcess: the finished process.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, \
            proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def save_random_checkpoint(path: str,
                           config: str = TINY_TOY_CFG,
                           seed: int = 0) -> str:
    """A randomly initialised model of ``config``, saved like a training
    checkpoint (much faster than training, for consistency tests)."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.runner.checkpoint import save_checkpoint
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path
