from .hooks import DynamicKDHook
from .schedules import kd_weight_at, target_param_at

__all__ = ['DynamicKDHook', 'kd_weight_at', 'target_param_at']
