from .allocator import tune_cpu_allocator
from .checkpoint import register_safe_globals, safe_globals
from .checkpoint_loader import (CheckpointFileError, CheckpointMismatchError,
                                UnsafeCheckpointError,
                                check_checkpoint_matches,
                                load_local_checkpoint, load_model_checkpoint)
from .cli import (add_debug_flag, drop_custom_hooks, merge_config_options,
                  run_tool, start_launcher, strip_training)
from .compat import patch_missing_drn
from .dataloader import auto_num_workers, resolve_dataloaders
from .dist import finish_distributed, init_cpu_distributed, use_cpu_ddp_wrapper

__all__ = [
    'CheckpointFileError', 'CheckpointMismatchError', 'UnsafeCheckpointError',
    'check_checkpoint_matches', 'load_local_checkpoint',
    'load_model_checkpoint', 'patch_missing_drn', 'register_safe_globals',
    'safe_globals', 'init_cpu_distributed', 'use_cpu_ddp_wrapper',
    'finish_distributed', 'drop_custom_hooks', 'merge_config_options',
    'start_launcher', 'run_tool', 'add_debug_flag', 'strip_training',
    'auto_num_workers', 'resolve_dataloaders', 'tune_cpu_allocator'
]
