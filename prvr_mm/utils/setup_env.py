"""Shared set-up of ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .dist import init_cpu_distributed, use_cpu_ddp_wrapper

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def merge_cli_options(cfg: Config,
                      cfg_options: Optional[dict],
                      config_path: str,
                      work_dir: Optional[str] = None,
                      launcher: str = 'none') -> Config:
    """Apply the command-line options common to the tools.

    * ``--cfg-options``; a top-level ``data_root=...`` also moves every
      dataloader's dataset (config variables are resolved when the file is
      parsed, so the plain override alone would not reach them);
    * ``--work-dir`` (default ``./work_dirs/<config name>``);
    * ``--launcher``; on a machine without CUDA a ``pytorch`` launcher
      initialises a gloo process group and a device-less DDP wrapper.

    Args:
        cfg (Config): the loaded config (modified in place).
        cfg_options (dict, optional): parsed ``--cfg-options``.
        config_path (str): path of the config file.
        work_dir (str, optional): ``--work-dir``.
        launcher (str): ``--launcher``.

    Returns:
        Config: ``cfg``.
    """
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        if 'data_root' in cfg_options:
            for loader in _LOADERS:
                if cfg.get(loader) is not None:
                    cfg[loader].dataset.data_root = cfg_options['data_root']
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    cfg.launcher = launcher
    if init_cpu_distributed(launcher):
        use_cpu_ddp_wrapper(cfg)
    return cfg
