from .warmup_linear_lr import (WarmupLinearLR, WarmupLinearParamScheduler,
                               warmup_linear)

__all__ = ['WarmupLinearLR', 'WarmupLinearParamScheduler', 'warmup_linear']
