"""A run owns its work dir: ``work_dir/run.lock`` (pid, host, start time)
is taken when a training run starts and removed when it ends, so a second
run into the same dir stops at once instead of overwriting the first."""
import atexit
import datetime
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Optional

from ..errors import PRVRConfigError

LOCK_NAME = 'run.lock'
#: a lock file younger than this without readable content is being written
_WRITING_GRACE_S = 10.0


class WorkDirInUseError(PRVRConfigError):
    """Another live run holds the work dir; the message names it (pid,
    host, start time) and the fix."""


def _proc_start(pid: int) -> Optional[str]:
    """Start time of process ``pid`` in clock ticks since boot (field 22 of
    ``/proc/PID/stat``), to tell a live run from a reused pid; None where
    ``/proc`` is not available."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(')', 1)[-1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def rank_of_launcher(launcher: str) -> int:
    """The global rank of this process before any process group exists
    (``RANK`` from torchrun, ``SLURM_PROCID`` from srun; 0 otherwise)."""
    if launcher in (None, 'none'):
        return 0
    for var in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 0


class WorkDirLock:
    """The lock file of one work dir.

    :meth:`acquire` creates ``work_dir/run.lock`` exclusively
    (``O_CREAT | O_EXCL``) with this process's pid, host, start time, work
    dir and command line.  If the file exists:

    * its process is alive (same host: the pid exists and, where ``/proc``
      tells, started at the recorded time; another host: it cannot be
      checked, so it counts as alive) -> :class:`WorkDirInUseError`;
    * its process is gone on this host (killed, crashed, machine rebooted),
      or the lock was copied with the dir from another work dir
      (``cp -a A C``), or it is unreadable and older than a few seconds ->
      it is stale: taken over with a warning.

    :meth:`release` (also registered with ``atexit``) removes the file if it
    is still this process's.

    Args:
        work_dir (str): the run's work dir (created if needed).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self.info = None

    # ----------------------------------------------------------- helpers
    def _mine(self) -> dict:
        return dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.datetime.now().isoformat(timespec='seconds'),
            proc_start=_proc_start(os.getpid()),
            work_dir=osp.realpath(self.work_dir),
            command=' '.join(sys.argv))

    def read(self) -> Optional[dict]:
        """The holder recorded in the lock file (None if unreadable)."""
        try:
            with open(self.path, encoding='utf-8') as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and 'pid' in info else None

    def stale_reason(self, holder: Optional[dict]) -> Optional[str]:
        """Why the lock of ``holder`` may be taken over (None: it is live)."""
        if holder is None:
            try:
                age = time.time() - osp.getmtime(self.path)
            except OSError:
                return 'it disappeared'
            if age < _WRITING_GRACE_S:
                return None  # being written by a run starting right now
            return 'its content is unreadable'
        recorded_dir = holder.get('work_dir')
        if recorded_dir and recorded_dir != osp.realpath(self.work_dir):
            return f'it was copied from {recorded_dir}'
        if holder.get('host') != socket.gethostname():
            return None
        pid = int(holder['pid'])
        if pid == os.getpid() and \
                holder.get('proc_start') == _proc_start(pid):
            return 'it is this process\'s own'
        if not _alive(pid):
            return f'process {pid} no longer runs on this host'
        start = _proc_start(pid)
        if holder.get('proc_start') and start and \
                start != holder['proc_start']:
            return f'pid {pid} is now another process'
        return None

    def describe(self, holder: Optional[dict]) -> str:
        if holder is None:
            return 'a run that is starting right now'
        return (f"pid {holder.get('pid')} on host {holder.get('host')}, "
                f"started {holder.get('started')}" +
                (f" ({holder['command']})" if holder.get('command') else ''))

    def _in_use(self, holder: Optional[dict]) -> WorkDirInUseError:
        other_host = holder is not None and \
            holder.get('host') != socket.gethostname()
        return WorkDirInUseError(
            f'work dir {self.work_dir} is in use by another run: '
            f'{self.describe(holder)}; lock file {self.path}. Two runs in '
            'one work dir would overwrite each other\'s checkpoints: give '
            'this run another --work-dir (the default, '
            'work_dirs/<config name>, is the same for every run of a '
            'config), or wait until that run ends' +
            ('. If it no longer runs (it was on another host, which '
             'cannot be checked from here), delete the lock file'
             if other_host else ''))

    # ------------------------------------------------------------- public
    def acquire(self) -> 'WorkDirLock':
        """Take the lock or raise :class:`WorkDirInUseError`."""
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                             0o644)
            except FileExistsError:
                holder = self.read()
                reason = self.stale_reason(holder)
                if reason is None:
                    raise self._in_use(holder) from None
                if holder is None or holder.get('pid') != os.getpid():
                    # before the Runner and its logger exist: plain print
                    print(
                        f'work dir {self.work_dir}: taking over the stale '
                        f'lock of {self.describe(holder)} ({reason})',
                        flush=True)
                # remove only what was judged (not a lock just re-taken)
                if self.read() == holder:
                    try:
                        os.remove(self.path)
                    except FileNotFoundError:
                        pass
                continue
            info = self._mine()
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(info, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            self.info = info
            atexit.register(self.release)
            return self
        raise self._in_use(self.read())

    def release(self) -> None:
        """Remove the lock file if this process still holds it."""
        if self.info is None:
            return
        holder = self.read()
        if holder is not None and holder.get('pid') == self.info['pid'] and \
                holder.get('started') == self.info['started']:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        self.info = None

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_work_dir(work_dir: str,
                  launcher: str = 'none') -> Optional[WorkDirLock]:
    """Rank 0 takes ``work_dir``'s lock (the other ranks take none).

    Args:
        work_dir (str): the run's work dir.
        launcher (str): the tool's ``--launcher``.

    Returns:
        WorkDirLock or None: the held lock (rank 0), release it at the end.

    Raises:
        WorkDirInUseError: another live run holds the dir.
    """
    if rank_of_launcher(launcher) != 0:
        return None
    return WorkDirLock(work_dir).acquire()
