from .hooks import DynamicKDHook, ResumableEarlyStoppingHook
from .optimizers import BertAdam, CPUAmpOptimWrapper
from .schedulers import (WarmupLinearLR, WarmupLinearParamScheduler,
                         warmup_linear)
from .schedules import kd_weight_at, target_param_at

__all__ = [
    'DynamicKDHook', 'ResumableEarlyStoppingHook', 'BertAdam',
    'CPUAmpOptimWrapper', 'WarmupLinearLR', 'WarmupLinearParamScheduler',
    'warmup_linear', 'kd_weight_at', 'target_param_at'
]
