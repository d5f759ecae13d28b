"""A new (not resumed) run into a work dir that holds a previous run's
checkpoints never overwrites or deletes them."""
import glob
import os
import os.path as osp
import shutil
import time
from typing import List

from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

PREVIOUS_DIR = 'previous_runs'


@HOOKS.register_module()
class WorkDirGuardHook(Hook):
    """Keep a previous run's checkpoints when a new run starts in its dir.

    MMEngine writes ``epoch_N.pth``, ``best_*_epoch_N.pth`` and
    ``last_checkpoint`` into the work dir, replacing files of the same name,
    so a second run into ``work_dirs/<config>`` (the default) would replace
    the first run's checkpoints — and a second run that then fails leaves
    neither.  With this hook:

    * a run that fails (or is killed) before saving its first checkpoint
      leaves the work dir exactly as it was (``--resume`` still continues
      the previous run);
    * just before the new run's first checkpoint is written, the previous
      run's top-level ``*.pth`` files and ``last_checkpoint`` move to
      ``work_dir/previous_runs/<time of the previous run's last
      checkpoint>/`` (``last_checkpoint`` there points at the moved file),
      which the log reports;
    * a resumed run continues in place (nothing moves).

    Delete ``previous_runs/`` to reclaim the space.  Enabled in
    ``configs/_base_/default_runtime.py`` (``default_hooks.work_dir_guard``).
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._previous: List[str] = []

    def before_train(self, runner) -> None:
        """List what a previous run left (nothing when resuming)."""
        resumed = getattr(runner, '_resume', False) and \
            getattr(runner, '_has_loaded', False)
        if resumed or not is_main_process():
            return
        self._previous = sorted(glob.glob(osp.join(runner.work_dir, '*.pth')))
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(last):
            self._previous.append(last)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Move the previous run's files before the first save."""
        files = [f for f in self._previous if osp.exists(f)]
        self._previous = []
        if not files:
            return
        stamp = time.strftime('%Y%m%d_%H%M%S',
                              time.localtime(max(map(osp.getmtime, files))))
        dest = osp.join(runner.work_dir, PREVIOUS_DIR, stamp)
        suffix = 1
        while osp.exists(dest):
            dest = osp.join(runner.work_dir, PREVIOUS_DIR, f'{stamp}_{suffix}')
            suffix += 1
        os.makedirs(dest)
        for path in files:
            shutil.move(path, osp.join(dest, osp.basename(path)))
        last = osp.join(dest, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                target = f.read().strip()
            moved = osp.join(dest, osp.basename(target))
            if osp.dirname(osp.abspath(target)) == osp.abspath(
                    runner.work_dir) and osp.isfile(moved):
                with open(last, 'w') as f:
                    f.write(moved)
        print_log(
            f'the work dir held checkpoints of a previous run: moved '
            f'{len(files)} file(s) to {dest} (nothing overwritten)',
            logger='current')
