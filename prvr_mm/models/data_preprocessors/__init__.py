from .prvr_data_preprocessor import (PRVRDataPreprocessor,
                                     build_data_preprocessor)

__all__ = ['PRVRDataPreprocessor', 'build_data_preprocessor']
