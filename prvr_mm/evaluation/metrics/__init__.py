from .prvr_metric import PRVRMetric

__all__ = ['PRVRMetric']
