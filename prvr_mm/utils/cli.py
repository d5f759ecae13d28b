"""Command-line options of the tools merged into a config.

``tools/train.py``, ``tools/test.py`` and the analysis tools share them.
"""
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config

from .dataloader import resolve_dataloaders
from .dist import init_cpu_distributed, use_cpu_ddp_wrapper

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# hooks that need the training loop (EarlyStoppingHook.before_run reads
# runner.train_loop, which would build the training set and its teacher files)
_TRAIN_ONLY_HOOKS = ('EarlyStoppingHook', 'DynamicKDHook')


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
      initialises a gloo process group and a device-less DDP wrapper;
    * loader workers: ``num_workers='auto'`` becomes a number sized to the
      machine (:func:`~prvr_mm.utils.dataloader.resolve_dataloaders`).

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
    resolve_dataloaders(cfg)
    return cfg


def strip_training(cfg: Config) -> Config:
    """Remove what only training needs, for ``tools/test.py``.

    Testing must not open the training split nor the teacher files (they
    are optional for evaluation and a user may not have them): the training
    dataloader, loop, optimizer and schedulers become ``None`` and the
    training-only custom hooks (:data:`_TRAIN_ONLY_HOOKS`) are dropped.

    Args:
        cfg (Config): the loaded config (modified in place).

    Returns:
        Config: ``cfg``.
    """
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        cfg[key] = None
    return drop_custom_hooks(cfg, _TRAIN_ONLY_HOOKS)


def drop_custom_hooks(cfg: Config, types: Sequence[str]) -> Config:
    """Remove the custom hooks of the given types from ``cfg``.

    Args:
        cfg (Config): the loaded config (modified in place).
        types (Sequence[str]): hook type names; a scoped type such as
            ``'mmengine.EarlyStoppingHook'`` matches ``'EarlyStoppingHook'``.

    Returns:
        Config: ``cfg``.
    """
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', None) or []
        if str(h.get('type')).split('.')[-1] not in types
    ]
    return cfg
