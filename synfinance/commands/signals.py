"""Stopping a long-running command from a signal: the first SIGINT/SIGTERM asks it to finish (flush, commit,
report), a second one while it finishes interrupts at once."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_signals(requested: Callable[[], bool], request: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call `request()`; once `requested()` is true, the next raises
    KeyboardInterrupt (do not wait for the flush). The previous handlers come back on exit."""
    def handler(_signum: int, _frame: FrameType | None) -> None:
        if requested():
            raise KeyboardInterrupt
        request()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
