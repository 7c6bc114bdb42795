"""How the process's C allocator treats the memory torch frees between training steps.

Every forward and backward pass allocates its activations and gradients afresh and frees
them when the step is over. With glibc's default settings a freed block of more than about
128 KiB (a 256-sample batch of 256-unit activations is 256 KiB) goes back to the operating
system, by ``munmap`` or by trimming the top of the heap, and the next step's block of the
same size is new memory again: every 4 KiB page of it costs a page fault and a zeroing on
first touch. SAC's update touched about 500 fresh pages per gradient step that way, a sixth
of its time on a 2-core machine. Raising glibc's thresholds keeps that memory in the
process for the next step instead; the cost is that the process's resident size stays at
its high-water mark.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import structlog

log = structlog.get_logger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap rather than their own mapping; glibc refuses
# more than 32 MiB on 64-bit systems. Larger tensors (replay buffers) are allocated once.
MMAP_THRESHOLD = 32 << 20
# The heap's free top is returned to the system only beyond this much.
TRIM_THRESHOLD = 256 << 20
# The heap grows by at least this much at a time.
TOP_PAD = 16 << 20


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse instead of returning them to the system.

    Returns whether the settings were applied: False (and nothing changed) where the C
    library is not glibc, e.g. on macOS, Windows or musl-based Linux. Applies to the whole
    process from now on and cannot be undone; glibc's adaptive thresholds are off after it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # only glibc has it (and mallopt's parameters as above)
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = all(
        mallopt(parameter, value)
        for parameter, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    if not applied:
        log.warning(
            "allocator_settings_refused", reason="glibc's mallopt refused a setting; the defaults stay in force"
        )
    return applied
