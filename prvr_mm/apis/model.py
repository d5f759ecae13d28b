"""A trained PRVR model from a config and a checkpoint, for the analysis
and search tools (the Runner builds its own)."""
from typing import Optional, Union

import torch
from mmengine.config import Config

__all__ = ['init_model', 'model_device']


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               with_teacher: bool = True) -> torch.nn.Module:
    """Build the model of a config and load a checkpoint into it, strictly
    (every key and shape must fit, see
    :func:`~prvr_mm.utils.load_model_checkpoint`).

    Args:
        config (str | Config): config file or loaded config.
        checkpoint (str, optional): checkpoint file; None keeps the
            initial (random) weights.
        device (str): where to put the model. Defaults to ``'cpu'``.
        with_teacher (bool): build the teacher too. False drops it (a
            search never needs it; a real CLIP teacher only costs memory).
            Defaults to True.

    Returns:
        nn.Module: the model, in eval mode.
    """
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    from ..utils import load_model_checkpoint
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = cfg.model.copy()
    if not with_teacher and 'teacher' in model_cfg:
        model_cfg.teacher = None
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_model_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def model_device(model: torch.nn.Module) -> torch.device:
    """Where a model lives: its first parameter's (or buffer's) device;
    CPU for a model without either (e.g. ``CLIPZeroShotRetriever``)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device('cpu')
