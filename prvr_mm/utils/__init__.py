from .checkpoint import register_safe_globals, safe_globals
from .compat import patch_missing_drn
from .dist import init_cpu_distributed, use_cpu_ddp_wrapper

__all__ = [
    'patch_missing_drn', 'register_safe_globals', 'safe_globals',
    'init_cpu_distributed', 'use_cpu_ddp_wrapper'
]
from .setup_env import merge_cli_options, strip_training  # noqa: E402

__all__ += ['merge_cli_options', 'strip_training']
