from .bert_adam import BertAdam
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper

__all__ = ['BertAdam', 'CPUAmpOptimWrapper']
