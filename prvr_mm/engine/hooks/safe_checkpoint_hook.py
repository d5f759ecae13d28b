"""MMEngine's CheckpointHook, but outdated checkpoints are deleted only once
the new one is completely written, so a run killed while saving keeps a
checkpoint to resume from."""
from typing import List

from mmaction.registry import HOOKS
from mmengine.hooks import CheckpointHook


class _DeferredRemoval:
    """A file backend whose ``remove`` / ``rmtree`` only queue the path."""

    def __init__(self, backend, queue: List[tuple]) -> None:
        self._backend = backend
        self._queue = queue

    def __getattr__(self, name: str):
        return getattr(self._backend, name)

    def remove(self, path) -> None:
        self._queue.append(('remove', path))

    def rmtree(self, path) -> None:
        self._queue.append(('rmtree', path))


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` with a safe save order.

    MMEngine deletes the checkpoint that ``max_keep_ckpts`` (or a new best
    score) makes outdated BEFORE writing the new one; with
    ``max_keep_ckpts=1`` a run killed during that write loses its only
    checkpoint, while ``last_checkpoint`` still points at the deleted file.
    Here the new file and ``last_checkpoint`` are written first and the
    outdated files deleted afterwards.  Same arguments and behaviour
    otherwise (used as ``default_hooks.checkpoint`` in
    ``configs/_base_/default_runtime.py``).
    """

    def _deferred(self, save, *args) -> None:
        backend, queue = self.file_backend, []
        self.file_backend = _DeferredRemoval(backend, queue)
        try:
            save(*args)
        finally:
            self.file_backend = backend
        keep = {
            getattr(self, 'last_ckpt', None),
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values()
        }
        for action, path in queue:
            if path in keep:  # just written under the same name
                continue
            if action == 'remove' and backend.isfile(path):
                backend.remove(path)
            elif action == 'rmtree' and backend.isdir(path):
                backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        self._deferred(super()._save_checkpoint_with_step, runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self._deferred(super()._save_best_checkpoint, runner, metrics)
