from .hooks import DynamicKDHook, ResumableEarlyStoppingHook
from .optimizers import BertAdam
from .schedulers import (WarmupLinearLR, WarmupLinearParamScheduler,
                         warmup_linear)
from .schedules import kd_weight_at, target_param_at

__all__ = [
    'DynamicKDHook', 'ResumableEarlyStoppingHook', 'BertAdam',
    'WarmupLinearLR', 'WarmupLinearParamScheduler', 'warmup_linear',
    'kd_weight_at', 'target_param_at'
]
