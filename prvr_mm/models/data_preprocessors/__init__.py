from .prvr_data_preprocessor import PRVRDataPreprocessor

__all__ = ['PRVRDataPreprocessor']
