"""When this process started, on the monotonic clock: start-up figures then include the interpreter and the
imports, as a user waiting for a command sees them.

>>> 0.0 <= time.monotonic() - started_monotonic() < 3600
True
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_IMPORTED = time.monotonic()


def started_monotonic() -> float:
    """`time.monotonic()` at this process's start: from the kernel's start time of the process on Linux
    (`/proc/self/stat`, clock ticks since boot), else the time this module was imported."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return time.monotonic() - max(age, 0.0)
