from .checkpoint import register_safe_globals, safe_globals
from .compat import patch_missing_drn
from .dist import init_cpu_distributed, use_cpu_ddp_wrapper

__all__ = [
    'patch_missing_drn', 'register_safe_globals', 'safe_globals',
    'init_cpu_distributed', 'use_cpu_ddp_wrapper'
]
from .setup_env import (drop_custom_hooks, merge_cli_options,  # noqa: E402
                        strip_training)

__all__ += ['drop_custom_hooks', 'merge_cli_options', 'strip_training']
