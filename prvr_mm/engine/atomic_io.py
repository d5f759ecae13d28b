"""Atomic file writes: a temporary file in the same folder, flushed, then
``os.replace``-d over the target, so a full disk or a kill mid-write leaves
the previous file (and ``last_checkpoint``) as it was."""
import os
import os.path as osp
from typing import Callable

TMP_SUFFIX = '.tmp'


def temp_path(path: str) -> str:
    """A temporary name next to ``path`` (same file system: the final
    ``os.replace`` is atomic), unique per process."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}.{os.getpid()}{TMP_SUFFIX}')


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to produce the file at a temporary path, then
    move it over ``path`` in one step.

    On any error (``ENOSPC`` while writing, a failing ``os.replace``) the
    temporary file is removed and ``path`` keeps its previous content.

    Args:
        path (str): the final file.
        write (callable): writes the complete file at the path it gets.
    """
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsync'ed before the move)."""

    def write(tmp: str) -> None:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode('utf-8'))
