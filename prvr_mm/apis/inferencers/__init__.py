from .prvr_inferencer import PRVRInferencer

__all__ = ['PRVRInferencer']
