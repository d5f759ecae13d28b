from .bert_adam import BertAdam

__all__ = ['BertAdam']
