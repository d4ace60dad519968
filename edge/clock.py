"""Whether the system clock is synchronised (NTP), as the Linux kernel reports it.

Layer: one read-only system call through ctypes; no other I/O. A gateway without
RTC boots with a wrong clock until NTP sets it: readings taken meanwhile carry
wrong times, so the agent reports the state in its status.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_TIME_ERROR = 5  # adjtimex(2): "the clock is not synchronised"
_TIMEX_BYTES = 256  # struct timex is 208 bytes on 64-bit Linux; zeroed, modes=0 reads only


def clock_synced() -> bool | None:
    """True/False on Linux (``adjtimex``), None where the kernel cannot be asked."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_BYTES)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR
