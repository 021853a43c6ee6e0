"""The writer thread without a database: offsets are released only after a write succeeds, an outage
opens the breaker and blocks (so the consumer pauses), and an abandoned batch releases nothing."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pybreaker

from synfinance.sinks.copy_writer import DatabaseUnavailable, WriteResult
from synfinance.sinks.metrics import SinkMetrics
from synfinance.sinks.pipeline import Backoff, BatchWriter
from synfinance.sinks.prepare import PreparedBatch


class FlakyWriter:
    """Fails with DatabaseUnavailable while ``down`` is set, then writes."""

    def __init__(self) -> None:
        self.down = False
        self.writes = 0

    def write(self, loads: Any) -> WriteResult:
        if self.down:
            raise DatabaseUnavailable("connection refused")
        self.writes += 1
        return WriteResult()

    def close(self) -> None:
        pass


class NoDeadLetters:
    def send(self, letters: Any) -> list[Any]:
        return []

    def close(self) -> int:
        return 0


def _batch(offset: int) -> PreparedBatch:
    return PreparedBatch(offsets={("t", 0): offset})


def _writer(db: FlakyWriter, metrics: SinkMetrics) -> BatchWriter:
    fast = Backoff(base=0.01, cap=0.05, floor=0.001, rng=random.Random(1))
    return BatchWriter([db], NoDeadLetters(), metrics, fail_max=3, reset_timeout=0.2, backoff=fast)  # type: ignore[list-item, arg-type]


def test_offsets_are_released_only_after_the_write_and_an_outage_opens_the_breaker() -> None:
    db, metrics = FlakyWriter(), SinkMetrics()
    writer = _writer(db, metrics)
    assert writer.submit(_batch(10)) and writer.wait_idle(5)
    assert writer.completed_offsets() == {("t", 0): 10}

    db.down = True
    writer.submit(_batch(20))
    deadline = time.monotonic() + 5
    while writer.breaker.current_state != pybreaker.STATE_OPEN and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.breaker.current_state == pybreaker.STATE_OPEN
    assert writer.blocked and not writer.idle
    assert writer.completed_offsets() == {}  # nothing to commit while the database is away
    assert metrics.registry.get_sample_value("synfin_sink_breaker_state") == 2
    assert metrics.registry.get_sample_value("synfin_sink_breaker_opens_total") == 1

    db.down = False  # the database returns: the breaker's trial call succeeds, the batch lands
    assert writer.wait_idle(5)
    assert not writer.blocked
    assert writer.breaker.current_state == pybreaker.STATE_CLOSED
    assert writer.completed_offsets() == {("t", 0): 20}
    assert db.writes == 2
    writer.close()


def test_an_abandoned_batch_releases_no_offsets() -> None:
    db, metrics = FlakyWriter(), SinkMetrics()
    writer = _writer(db, metrics)
    db.down = True
    writer.submit(_batch(5))
    deadline = time.monotonic() + 5
    while not writer.blocked and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.abandon()
    assert writer.idle
    db.down = False
    assert writer.completed_offsets() == {}
    assert writer.submit(_batch(6)) and writer.wait_idle(5)
    assert writer.completed_offsets() == {("t", 0): 6}
    writer.close()


def test_backoff_grows_with_full_jitter_and_a_cap() -> None:
    backoff = Backoff(base=0.25, cap=5.0, floor=0.05, rng=random.Random(3))
    delays = [[backoff.delay(k) for _ in range(200)] for k in range(8)]
    for k, samples in enumerate(delays):
        assert all(0.05 <= d <= min(5.0, 0.25 * 2**k) for d in samples)
    assert max(delays[7]) > 2.5 > max(delays[1])


class GatedWriter:
    """Each batch's write waits for its own gate (batches are told apart by their loads)."""

    def __init__(self, gates: dict[str, threading.Event]) -> None:
        self.gates = gates

    def write(self, loads: Any) -> WriteResult:
        assert self.gates[loads[0]].wait(5)
        return WriteResult()

    def close(self) -> None:
        pass


def test_with_two_connections_offsets_are_released_in_submission_order() -> None:
    gates = {"first": threading.Event(), "second": threading.Event()}
    writers = [GatedWriter(gates), GatedWriter(gates)]
    writer = BatchWriter(writers, NoDeadLetters(), SinkMetrics())  # type: ignore[arg-type]
    writer.submit(PreparedBatch(loads=["first"], offsets={("t", 0): 10}))  # type: ignore[list-item]
    writer.submit(PreparedBatch(loads=["second"], offsets={("t", 1): 7}))  # type: ignore[list-item]
    gates["second"].set()  # the later batch is written first ...
    time.sleep(0.2)
    assert writer.completed_offsets() == {}  # ... but waits for the earlier one
    gates["first"].set()
    assert writer.wait_idle(5)
    assert writer.completed_offsets() == {("t", 0): 10, ("t", 1): 7}
    writer.close()
