from .dynamic_kd_hook import DynamicKDHook
from .early_stopping_hook import ResumableEarlyStoppingHook

__all__ = ['DynamicKDHook', 'ResumableEarlyStoppingHook']
