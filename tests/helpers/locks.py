"""Another process holding an h5 file open for writing (HDF5 locks it), for
the tests of the "locked by another process" error."""
import contextlib
import subprocess
import sys


@contextlib.contextmanager
def h5_held_open(path: str):
    """Keep ``path`` open in append mode in a second Python process while
    the ``with`` block runs; the lock goes with the process."""
    holder = subprocess.Popen([
        sys.executable, '-c', 'import sys, h5py; '
        f'f = h5py.File({path!r}, "a"); print("open", flush=True); '
        'sys.stdin.read()'
    ],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'open'
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
