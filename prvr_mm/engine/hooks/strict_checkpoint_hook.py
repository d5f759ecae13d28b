"""Refuses a checkpoint whose weights do not fit the model (``load_from``,
``--resume``, ``tools/test.py``), instead of MMEngine's warnings."""
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...utils.checkpoint_loader import check_checkpoint_matches, loaded_from


@HOOKS.register_module()
class StrictCheckpointHook(Hook):
    """Every checkpoint the Runner loads must fit the model exactly.

    MMEngine's ``Runner.load_checkpoint`` loads with ``strict=False``: a
    checkpoint of another architecture or dimension only logs warnings, and
    evaluation then reports the metrics of half-random weights.  This hook
    runs in ``after_load_checkpoint`` (before the weights are copied) and
    raises :class:`~prvr_mm.utils.CheckpointMismatchError` listing every
    mismatched key with both shapes, and the file.  Parts deliberately kept
    out of checkpoints (the frozen open_clip teacher) are not in the model's
    state dict, so they are never demanded.

    Enabled in ``configs/_base_/default_runtime.py`` as
    ``default_hooks.strict_checkpoint``; set it to ``None`` to load partial
    checkpoints (or use ``init_cfg=dict(type='Pretrained', ...)``).
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise unless ``checkpoint`` fits ``runner.model``."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        filename = loaded_from(checkpoint) or runner._load_from
        check_checkpoint_matches(model, checkpoint, filename)
