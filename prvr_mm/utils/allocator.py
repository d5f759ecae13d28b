"""CPU memory allocator settings for training on CPU (glibc ``mallopt``).

A DL-DKD step at TVR shapes allocates and frees dozens of tensors of
10-200 MB.  glibc serves blocks above its mmap threshold (at most 32 MB by
default) with fresh ``mmap`` pages and unmaps them on free, so every step
page-faults its large tensors in again.  Raising the mmap threshold and the
trim threshold lets the heap keep and reuse those blocks: no faults after
the first step, for a little more peak memory (figures: ``docs/speed.md``,
"Figures behind code choices").
"""
import ctypes
import os

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: set this environment variable to 1 to leave the allocator alone
OPT_OUT = 'PRVR_MM_KEEP_MALLOC'


def tune_cpu_allocator(mmap_threshold: int = 1 << 30,
                       trim_threshold: int = (1 << 31) - 1) -> bool:
    """Keep large tensors on the reusable heap (glibc only).

    Args:
        mmap_threshold (int): blocks below this many bytes come from the
            heap. Defaults to 1 GiB.
        trim_threshold (int): free heap memory kept before returning it to
            the system. Defaults to 2 GiB - 1.

    Returns:
        bool: whether the settings were applied (False without glibc, or
        when the ``PRVR_MM_KEEP_MALLOC=1`` environment variable opts out).
    """
    if os.environ.get(OPT_OUT, '') not in ('', '0'):
        return False
    try:
        mallopt = ctypes.CDLL('libc.so.6').mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        and mallopt(_M_TRIM_THRESHOLD, trim_threshold))
