"""The stall watchdog: a worker whose loop stops turning is reported, not left hanging in silence.

A Kafka call can block for good inside the client (librdkafka's `send_offsets_to_transaction` after a broker
restart, confluentinc/librdkafka#5456) whatever timeout it was given. The worker's loop beats the watchdog
on every turn and names what it is about to do; when no beat came for `stall_s`, the watchdog calls
`on_stall` once with one line saying what did not return and for how long. The host then reports not
alive on `/healthz` and exits non-zero: a thread stuck in C cannot be interrupted, so a fresh process (its
supervisor's restart, or `process --workers`' own) takes over from the last committed transaction.

>>> now = [0.0]
>>> dog = Watchdog(30.0, clock=lambda: now[0])
>>> dog.beat("committing a Kafka transaction"); now[0] = 31.0; dog.check()
'committing a Kafka transaction has not returned in 31 s'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self._clock = clock
        self._last = clock()
        self._doing = "starting"
        self.stalled: str | None = None
        self._stop = threading.Event()

    def beat(self, doing: str = "polling Kafka") -> None:
        """The loop is alive and about to do `doing`."""
        self._last, self._doing = self._clock(), doing

    def check(self) -> str | None:
        """What has not returned, if it has not for longer than `stall_s`."""
        age = self._clock() - self._last
        return f"{self._doing} has not returned in {age:.0f} s" if age > self.stall_s else None

    def watch(self, on_stall: Callable[[str], None]) -> threading.Thread:
        """Check in a daemon thread until `stop` or the first stall, which goes to `on_stall`."""
        def loop() -> None:
            while not self._stop.wait(min(1.0, self.stall_s / 10)):
                reason = self.check()
                if reason is not None:
                    self.stalled = reason
                    on_stall(reason)
                    return
        thread = threading.Thread(target=loop, name="synfin-watchdog", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
