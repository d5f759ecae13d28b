from .dynamic_kd_hook import DynamicKDHook

__all__ = ['DynamicKDHook']
