"""Give large buffers back to the system as soon as they are freed (glibc only).

glibc serves an allocation above its mmap threshold (128 KiB at start) with its own mmap and
returns it on free, but it then raises the threshold to the size just freed (up to 32 MiB):
after one 25 MiB mail, the next mails' 25 MiB buffers come from the heap and stay resident
after they are freed. Measured through the listener with 8 mails of 25 MiB at once: peak
193 MiB and 192 MiB held afterwards; with the threshold fixed at 1 MiB, 141 MiB peak and
107 MiB afterwards (BENCHMARKS.md). A fixed threshold (mallopt) turns the adjustment off.
The same as `MALLOC_MMAP_THRESHOLD_=1048576` in the environment, without relying on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging

log = logging.getLogger("maildesk.allocator")

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 1 << 20


def return_large_buffers(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold; False (and nothing changed) on another C library."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name)
        if libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1:
            return True
    log.debug("mallopt(M_MMAP_THRESHOLD) not available: allocator left as it is")
    return False
