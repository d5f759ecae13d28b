"""Command-line options of the tools merged into a config.

``tools/train.py``, ``tools/test.py`` and the analysis tools share them.
Each step is its own function, named for what it does:

* :func:`merge_config_options` edits the config only (``--cfg-options``,
  ``--work-dir``);
* :func:`start_launcher` records ``--launcher`` and, on a machine without
  CUDA, starts the gloo process group (a process-wide side effect);
* :func:`~prvr_mm.utils.dataloader.resolve_dataloaders` sizes
  ``num_workers='auto'`` to the machine.

:func:`run_tool` runs a tool's ``main`` with the one rule for user errors
(:class:`~prvr_mm.errors.PRVRError`): one ``error: ...`` line, exit status
2, the traceback only with ``--debug`` (:func:`add_debug_flag`).
"""
import os.path as osp
import sys
from typing import Any, Callable, Optional, Sequence

from mmengine.config import Config

from ..errors import PRVRError
from .dist import init_cpu_distributed, use_cpu_ddp_wrapper

#: the command-line flag that keeps the traceback of a user error
DEBUG_FLAG = '--debug'
#: exit status of a tool stopped by a user error (argparse's usage errors
#: exit 2 too)
USER_ERROR_STATUS = 2

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: top-level config variables that every dataloader's dataset takes too
MOVED_KEYS = ('data_root', 'collection')
# hooks that need the training loop (EarlyStoppingHook.before_run reads
# runner.train_loop, which would build the training set and its teacher files)
_TRAIN_ONLY_HOOKS = ('EarlyStoppingHook', 'DynamicKDHook')


def add_debug_flag(parser) -> None:
    """Add ``--debug`` (see :func:`run_tool`) to an ``ArgumentParser``."""
    parser.add_argument(
        DEBUG_FLAG,
        action='store_true',
        help='show the full traceback of an error (a bad file, option, '
        'config value or checkpoint prints one error line by default)')


def json_option(text: str) -> dict:
    """An ``argparse`` type: a JSON object (``--options '{"a": 1}'``).

    Raises:
        argparse.ArgumentTypeError: not JSON, or not an object (argparse
            prints it as a usage error, exit 2).
    """
    import argparse
    import json
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not JSON ({err}); expected an object such as '
            '\'{"seed": 1}\' (quote it for the shell)') from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'{text!r} is a JSON {type(value).__name__}, expected an object '
            'such as \'{"seed": 1}\'')
    return value


class UserErrorExit(int):
    """The exit status of a user error (:data:`USER_ERROR_STATUS`) that also
    carries the error line: ``str(code)`` is ``'error: ...'``, so a caller
    that runs a tool's ``main()`` in-process reads the message from
    ``SystemExit.code`` while the process still exits with status 2."""

    def __new__(cls, status: int, message: str) -> 'UserErrorExit':
        code = super().__new__(cls, status)
        code.message = message
        return code

    def __str__(self) -> str:
        return self.message


def run_tool(main: Callable[[], Any],
             argv: Optional[Sequence[str]] = None) -> Any:
    """Run a tool's ``main()`` with the tools' one rule for user errors.

    A :class:`~prvr_mm.errors.PRVRError` (a bad file, option, config value,
    checkpoint, index or a missing optional package) is printed as
    ``error: <message>`` on stderr and the process exits with status 2
    (:data:`USER_ERROR_STATUS`); with ``--debug`` in the command line it is
    raised again, with its traceback. Any other exception is a bug and
    propagates unchanged. Usage, at the bottom of a tool::

        if __name__ == '__main__':
            run_tool(main)

    with :func:`add_debug_flag` on the tool's parser.

    Args:
        main (callable): the tool's entry point, called without arguments.
        argv (Sequence[str], optional): the command line searched for
            ``--debug``. Defaults to ``sys.argv[1:]``.

    Returns:
        Any: what ``main()`` returned.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main()
    except PRVRError as err:
        if DEBUG_FLAG in argv:
            raise
        print(f'error: {err}', file=sys.stderr, flush=True)
        raise SystemExit(UserErrorExit(USER_ERROR_STATUS, f'error: {err}'))


def merge_config_options(cfg: Config,
                         cfg_options: Optional[dict],
                         config_path: str,
                         work_dir: Optional[str] = None) -> Config:
    """Merge ``--cfg-options`` and ``--work-dir`` into the config (no other
    effect).

    * ``--cfg-options``; a top-level ``data_root=...`` or
      ``collection=...`` also reaches every dataloader's dataset (config
      variables are resolved when the file is parsed, so the plain override
      alone would not reach them; :data:`MOVED_KEYS`), and a new
      ``data_root`` also moves a text encoder that reads from it;
    * ``--work-dir`` (default ``./work_dirs/<config name>``).

    Args:
        cfg (Config): the loaded config (modified in place).
        cfg_options (dict, optional): parsed ``--cfg-options``.
        config_path (str): path of the config file.
        work_dir (str, optional): ``--work-dir``.

    Returns:
        Config: ``cfg``.
    """
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        for key in MOVED_KEYS:
            if key not in cfg_options:
                continue
            for loader in _LOADERS:
                if cfg.get(loader) is not None:
                    cfg[loader].dataset[key] = cfg_options[key]
        # a text encoder that reads its files from the data root (the
        # toy's vocabulary) moves with it
        if 'data_root' in cfg_options and 'data_root' in (
                cfg.get('text_encoder') or {}):
            cfg.text_encoder.data_root = cfg_options['data_root']
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    return cfg


def start_launcher(cfg: Config, launcher: str = 'none') -> bool:
    """Record ``--launcher`` in the config and, on a machine without CUDA,
    start the process group of a ``pytorch`` launcher (gloo) and switch the
    config to a device-less DDP wrapper (STACK.md item 11). With CUDA, or
    ``launcher='none'``, the Runner starts its own group as usual.

    Args:
        cfg (Config): the loaded config (modified in place).
        launcher (str): ``--launcher``. Defaults to ``'none'``.

    Returns:
        bool: whether a CPU process group was started here.

    Raises:
        PRVRConfigError: a launcher that cannot work on this machine (see
            :func:`~prvr_mm.utils.dist.init_cpu_distributed`).
    """
    cfg.launcher = launcher
    started = init_cpu_distributed(launcher)
    if started:
        use_cpu_ddp_wrapper(cfg)
    return started


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


def _hook_class(hook_type):
    """The registered class of a hook ``type`` (None when unknown)."""
    if isinstance(hook_type, type):
        return hook_type
    from mmaction.registry import HOOKS
    try:
        cls = HOOKS.get(str(hook_type))
    except (KeyError, ImportError):
        return None
    return cls if isinstance(cls, type) else None


def drop_custom_hooks(cfg: Config, types: Sequence[str]) -> Config:
    """Remove the custom hooks of the given types (or of their subclasses,
    e.g. ``ResumableEarlyStoppingHook`` for ``EarlyStoppingHook``).

    Args:
        cfg (Config): the loaded config (modified in place).
        types (Sequence[str]): hook type names; a scoped type such as
            ``'mmengine.EarlyStoppingHook'`` matches ``'EarlyStoppingHook'``.

    Returns:
        Config: ``cfg``.
    """
    bases = tuple(c for c in map(_hook_class, types) if c is not None)

    def dropped(hook: dict) -> bool:
        hook_type = hook.get('type')
        name = getattr(hook_type, '__name__', str(hook_type))
        if name.split('.')[-1] in types:
            return True
        cls = _hook_class(hook_type)
        return bool(bases) and cls is not None and issubclass(cls, bases)

    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', None) or [] if not dropped(h)
    ]
    return cfg
