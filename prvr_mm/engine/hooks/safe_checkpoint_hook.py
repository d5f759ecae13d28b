"""MMEngine's CheckpointHook, but nothing a user has is lost: checkpoints
and ``last_checkpoint`` are written atomically, outdated checkpoints are
deleted only once the new one is completely written, and nothing outside
the run's own work dir is ever deleted."""
import logging
import os.path as osp
from contextlib import contextmanager
from typing import List

from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ..atomic_io import atomic_write, atomic_write_text


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


def _is_local(path) -> bool:
    return '://' not in str(path)


def inside(path, folder) -> bool:
    """Whether ``path`` lies in ``folder`` (symbolic links resolved)."""
    path, folder = osp.realpath(str(path)), osp.realpath(str(folder))
    return osp.commonpath([path, folder]) == folder


@contextmanager
def atomic_checkpoint_saves(runner):
    """Within the block, ``runner.save_checkpoint`` writes a local file
    atomically: to a temporary name in the same folder, then
    ``os.replace``-d over the final name (a full disk or a kill leaves the
    previous file intact and no partial file under the final name)."""
    original = runner.save_checkpoint
    if getattr(original, '_prvr_atomic', False):
        yield
        return
    patched = runner.__dict__.get('save_checkpoint')  # someone's own wrap

    def save(out_dir, filename, *args, **kwargs):
        if not _is_local(out_dir) or not is_main_process():
            return original(out_dir, filename, *args, **kwargs)
        atomic_write(
            osp.join(out_dir, filename), lambda tmp: original(
                osp.dirname(tmp), osp.basename(tmp), *args, **kwargs))

    save._prvr_atomic = True
    runner.save_checkpoint = save
    try:
        yield
    finally:
        if patched is None:
            del runner.save_checkpoint  # the class's method again
        else:
            runner.save_checkpoint = patched


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` with a safe save order.

    * MMEngine deletes the checkpoint that ``max_keep_ckpts`` (or a new
      best score) makes outdated BEFORE writing the new one; with
      ``max_keep_ckpts=1`` a run killed during that write loses its only
      checkpoint, while ``last_checkpoint`` still points at the deleted
      file.  Here the new file and ``last_checkpoint`` are written first and
      the outdated files deleted afterwards.
    * Checkpoints and ``last_checkpoint`` are written atomically (temporary
      file + ``os.replace``): a full disk or a kill while saving leaves the
      previous state loadable.
    * Nothing outside the run's work dir is deleted.  MMEngine restores the
      absolute ``best_ckpt`` path from the resumed checkpoint and deletes
      that file when a better score comes: resuming another dir's
      checkpoint (``--work-dir B --resume A/epoch_2.pth``) or a copied dir
      (``cp -a A C``) deleted A's best checkpoint.  A best checkpoint
      outside the work dir is now forgotten (the copy of the same name in
      the work dir is adopted, if there is one); the run saves its own best
      when it beats the best score so far.

    Same arguments and behaviour otherwise (used as
    ``default_hooks.checkpoint`` in ``configs/_base_/default_runtime.py``).
    """

    def _own(self, runner, path) -> bool:
        return inside(path, runner.work_dir) or inside(path, self.out_dir)

    def _localise(self, runner, path, key: str):
        """``path`` if it is in the work dir, else its copy there, else
        None (logged)."""
        if not path or not _is_local(path) or self._own(runner, path):
            return path
        mine = osp.join(self.out_dir, osp.basename(str(path)))
        if osp.isfile(mine):
            print_log(
                f'the best checkpoint recorded in the resumed checkpoint, '
                f'{path}, is outside this work dir; using its copy {mine} '
                f'(nothing outside {runner.work_dir} is touched)',
                logger='current')
            return mine
        best = runner.message_hub.get_info(key.replace('ckpt', 'score'))
        print_log(
            f'the best checkpoint recorded in the resumed checkpoint, {path}, '
            f'is outside this work dir {runner.work_dir}: it stays where it '
            'is (this run never deletes or moves it), and this run saves its '
            'own best checkpoint when it beats the best score so far' +
            (f' ({best})' if best is not None else ''),
            logger='current',
            level=logging.WARNING)
        return None

    def before_train(self, runner) -> None:
        """MMEngine's set-up, then forget best checkpoints of other dirs."""
        super().before_train(runner)
        if getattr(self, 'best_ckpt_path', None):
            path = self._localise(runner, self.best_ckpt_path, 'best_ckpt')
            if path != self.best_ckpt_path:
                self.best_ckpt_path = path
                runner.message_hub.update_info('best_ckpt', path)
        for key, old in list(getattr(self, 'best_ckpt_path_dict', {}).items()):
            if old:
                path = self._localise(runner, old, f'best_ckpt_{key}')
                if path != old:
                    self.best_ckpt_path_dict[key] = path
                    runner.message_hub.update_info(f'best_ckpt_{key}', path)

    @contextmanager
    def _deferred(self, runner):
        """Removals wait until the block (the saves) completed; saves are
        atomic."""
        backend, queue = self.file_backend, []
        self.file_backend = _DeferredRemoval(backend, queue)
        try:
            with atomic_checkpoint_saves(runner):
                yield
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
            if _is_local(path) and not self._own(runner, path):
                print_log(
                    f'not deleting {path}: it is outside the work dir '
                    f'{runner.work_dir}',
                    logger='current',
                    level=logging.WARNING)
                continue
            if action == 'remove' and backend.isfile(path):
                backend.remove(path)
            elif action == 'rmtree' and backend.isdir(path):
                backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """MMEngine's version (mmengine 0.10.7), with the outdated file
        removed last and ``last_checkpoint`` written atomically."""
        with self._deferred(runner):
            if self.max_keep_ckpts > 0 and not (
                    self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    old = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        path = self.file_backend.join_path(
                            self.out_dir, self.filename_tmpl.format(old))
                        if self.file_backend.isfile(path):
                            self.file_backend.remove(path)
                        elif self.file_backend.isdir(path):
                            self.file_backend.rmtree(path)
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))
            ckpt_filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(
                self.out_dir, ckpt_filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if is_main_process():
                atomic_write_text(
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    str(self.last_ckpt))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._deferred(runner):
            super()._save_best_checkpoint(runner, metrics)
