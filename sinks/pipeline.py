"""The write side of the sink: writer threads that write prepared batches and release their offsets.

Decoding batches (Python, the consumer thread) and writing earlier ones (PostgreSQL) overlap:
psycopg2 releases the GIL while the server works. With ``connections`` > 1, consecutive batches are
written concurrently on their own connections, each batch still one database transaction: a single
PostgreSQL backend, not Python, is what bounds one connection's rows/s. Concurrent batches only
share keys on a replay; ``ON CONFLICT`` resolves that (a deadlock between them is retried).

A batch's offsets are released (``completed_offsets``) only after its transaction committed and its
dead letters (undecodable records, rows PostgreSQL refused, conflicting duplicates) were delivered,
and only in submission order: a batch's offsets wait for every earlier batch. The consumer thread
commits them: confluent-kafka's synchronous commit can block indefinitely when called from a thread
other than the one polling.

While the database is unavailable, batches are retried through a pybreaker circuit breaker, with
exponential backoff and full jitter; ``blocked`` tells the consumer to pause its partitions (and
nothing is committed) until a retry succeeds. ``abandon`` gives up every batch in hand, for shutdown
or a rebalance during an outage: none of their offsets (nor any later ones) are released, and their
records will be consumed again.

With ``synfinance[otel]`` and an OTLP endpoint (``common.otel``), each batch's write is a ``persist`` span
linked to the traces of its records.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pybreaker

from synfinance.common.e2e import is_live, live_delays
from synfinance.common.otel import BatchTracer
from synfinance.common.trace import header_value
from synfinance.sinks.conflicts import ERROR_CLASS as CONFLICT
from synfinance.sinks.copy_writer import CopyWriter, DatabaseUnavailable, WriteConflict, WriteResult
from synfinance.sinks.dlq import DeadLetter, DeadLetterProducer
from synfinance.sinks.metrics import BREAKER_STATES, SinkMetrics
from synfinance.sinks.prepare import PreparedBatch

__all__ = ["Backoff", "BatchWriter"]

log = logging.getLogger(__name__)
Offsets = dict[tuple[str, int], int]


class Backoff:
    """Exponential backoff with full jitter: attempt k waits uniform(0, min(cap, base * 2**k)) seconds,
    at least ``floor`` (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015)."""

    def __init__(self, base: float = 0.25, cap: float = 5.0, floor: float = 0.05,
                 rng: random.Random | None = None) -> None:
        self.base, self.cap, self.floor = base, cap, floor
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        return max(self.floor, self._rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30))))


class _BreakerListener(pybreaker.CircuitBreakerListener):
    def __init__(self, metrics: SinkMetrics) -> None:
        self.metrics = metrics

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        name = new_state.name
        self.metrics.breaker_state.set(BREAKER_STATES.get(name, 0))
        if name == pybreaker.STATE_OPEN:
            self.metrics.breaker_opens.inc()
            log.warning("database circuit breaker open: pausing consumption, nothing is committed")
        elif name == pybreaker.STATE_CLOSED:
            log.info("database circuit breaker closed: resuming")


class _DeadLettersUndelivered(Exception):
    pass


class BatchWriter:
    """Writes ``PreparedBatch``es on one thread per writer; ``completed_offsets`` gives what to commit."""

    def __init__(self, writers: Sequence[CopyWriter], dead_letters: DeadLetterProducer, metrics: SinkMetrics,
                 fail_max: int = 3, reset_timeout: float = 5.0, backoff: Backoff | None = None,
                 tracer: BatchTracer | None = None) -> None:
        if not writers:
            raise ValueError("BatchWriter needs at least one CopyWriter")
        self._writers = list(writers)
        self._tracer = tracer
        self._dlq = dead_letters
        self._metrics = metrics
        self._backoff = backoff or Backoff(cap=reset_timeout)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, name="postgresql",
            exclude=[lambda exc: not isinstance(exc, DatabaseUnavailable)],  # only outages trip it
            listeners=[_BreakerListener(metrics)])
        self._queue: queue.Queue[tuple[int, PreparedBatch] | None] = queue.Queue(maxsize=1)
        self._lock = threading.Condition()
        self._next_seq = 0  # sequence number of the next submitted batch
        self._next_release = 0  # the oldest batch whose offsets are not released yet
        self._written: dict[int, Offsets] = {}  # written, waiting for earlier batches
        self._released: list[Offsets] = []
        self._pending = 0  # submitted, not yet written or abandoned
        self._retrying = 0  # writer threads waiting for the database
        self._abandon = threading.Event()
        self.error: BaseException | None = None  # a fatal error; the consumer stops on it
        self._threads = [threading.Thread(target=self._run, args=(w,), name=f"sink-writer-{i}", daemon=True)
                         for i, w in enumerate(self._writers)]
        for thread in self._threads:
            thread.start()

    @property
    def blocked(self) -> bool:
        """True while a batch waits for the database (or the dead-letter topic)."""
        with self._lock:
            return self._retrying > 0

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0

    def completed_offsets(self) -> Offsets:
        """Next offsets of the partitions of the batches released since the last call (newest wins)."""
        with self._lock:
            released, self._released = self._released, []
        merged: Offsets = {}
        for offsets in released:
            merged.update(offsets)
        return merged

    def submit(self, batch: PreparedBatch, timeout: float | None = None) -> bool:
        """Queue ``batch``; waits while the queue is full. False on timeout."""
        with self._lock:
            seq = self._next_seq
            self._pending += 1
        try:
            self._queue.put((seq, batch), timeout=timeout)
        except queue.Full:
            with self._lock:
                self._pending -= 1
            return False
        with self._lock:
            self._next_seq += 1
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted batch is written (or abandoned); False on timeout or error."""
        with self._lock:
            self._lock.wait_for(lambda: self._pending == 0 or self.error is not None, timeout)
            return self._pending == 0

    def abandon(self) -> None:
        """Give up every batch in hand: none of their offsets, nor later ones, will be released."""
        self._abandon.set()
        while True:
            try:
                if self._queue.get_nowait() is not None:
                    with self._lock:
                        self._pending -= 1
            except queue.Empty:
                break
        self.wait_idle(30.0)
        with self._lock:
            # batches written meanwhile but behind an abandoned one stay unreleased: drop them all
            self._written.clear()
            self._next_release = self._next_seq
            self._lock.notify_all()
        self._abandon.clear()

    def close(self, timeout: float = 30.0) -> None:
        self._abandon.set()  # whatever is still in hand was not committed: drop it
        for thread in self._threads:
            if thread.is_alive():
                try:
                    self._queue.put(None, timeout=timeout)
                except queue.Full:
                    log.warning("sink writer did not stop within %.0f s", timeout)
        for thread in self._threads:
            thread.join(timeout)
        for writer in self._writers:
            writer.close()
        self._dlq.close()
        if self._tracer is not None:
            self._tracer.shutdown()

    def _run(self, writer: CopyWriter) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            seq, batch = item
            try:
                self._write(writer, seq, batch)
            except BaseException as exc:  # the consumer thread reports it and stops
                log.exception("sink writer failed")
                with self._lock:
                    self.error = exc
                    self._pending -= 1
                    self._lock.notify_all()
                return
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

    def _write(self, writer: CopyWriter, seq: int, batch: PreparedBatch) -> None:
        started = time.monotonic()
        with self._span(batch):
            result = self._retry(lambda: self.breaker.call(writer.write, batch.loads))
        if result is None:
            return
        letters = batch.dead_letters + [
            DeadLetter(batch.sources[r.table][r.row], r.error_class, r.message) for r in result.rejected] + [
            DeadLetter(batch.sources[c.table][c.row], CONFLICT, c.reason) for c in result.conflicts]
        if letters and self._retry(lambda: self._send(letters)) is None:
            return
        with self._lock:
            self._written[seq] = batch.offsets
            while self._next_release in self._written:
                self._released.append(self._written.pop(self._next_release))
                self._next_release += 1
        self._record(batch, result, letters, time.monotonic() - started)

    def _span(self, batch: PreparedBatch) -> contextlib.AbstractContextManager[Any]:
        """The batch's `persist` span (``common.otel``), or nothing when tracing is off."""
        if self._tracer is None:
            return contextlib.nullcontext()
        messages = {id(m): m for rows in batch.sources.values() for m in rows}.values()  # once each, as in _record
        return self._tracer.span("persist", [header_value(m.headers()) for m in messages],
                                 {"db.system": "postgresql", "synfin.rows": batch.rows})

    def _send(self, letters: list[DeadLetter]) -> bool:
        undelivered = self._dlq.send(letters)
        if undelivered:
            letters[:] = undelivered
            raise _DeadLettersUndelivered(f"{len(undelivered)} dead letters not delivered")
        return True

    def _retry(self, attempt_once: Callable[[], Any]) -> Any:
        """Run until it succeeds (returns its result) or the batch is abandoned (returns None)."""
        attempt = 0
        try:
            while True:
                if self._abandon.is_set():
                    log.warning("batch abandoned before it was written; its records will be consumed again")
                    return None
                try:
                    return attempt_once()
                except WriteConflict as exc:  # two of our batches deadlocked on a replayed key: not an outage
                    log.info("batch retried: %s", exc)
                    self._abandon.wait(self._backoff.delay(0))
                except (DatabaseUnavailable, pybreaker.CircuitBreakerError, _DeadLettersUndelivered) as exc:
                    if isinstance(exc, DatabaseUnavailable):
                        self._metrics.db_unavailable.inc()
                    if attempt == 0:
                        log.warning("batch not written, will retry: %s", exc, extra={"error_class": type(exc).__name__})
                        with self._lock:
                            self._retrying += 1
                    self._abandon.wait(self._backoff.delay(attempt))
                    attempt += 1
        finally:
            if attempt:
                with self._lock:
                    self._retrying -= 1

    def _record(self, batch: PreparedBatch, result: WriteResult, letters: list[DeadLetter],
                seconds: float) -> None:
        m = self._metrics
        m.batch_seconds.observe(seconds)
        now = time.time()
        first = next((rows[0] for rows in batch.sources.values() if rows), None)
        if first is not None and is_live(first.timestamp()[1], now):
            # once per message (one message may fill rows of several tables)
            messages = {id(message): message for rows in batch.sources.values() for message in rows}.values()
            for delay in live_delays([message.timestamp()[1] for message in messages], now).tolist():
                m.e2e.observe(delay)
        for topic, count in batch.records.items():
            m.records.labels(topic).inc(count)
        conflicts = Counter(c.table for c in result.conflicts)
        for table, written in result.written.items():
            m.rows_written.labels(table).inc(written)
            m.rows_duplicate.labels(table).inc(result.staged[table] - written - conflicts[table])
        for table, count in conflicts.items():
            m.conflicts.labels(table).inc(count)
        for letter in letters:
            m.dead_letters.labels(letter.message.topic(), letter.error_class).inc()
        if letters:
            _log_dead_letters(letters)


def _log_dead_letters(letters: Sequence[DeadLetter]) -> None:
    """One line per source topic and error class of a batch's dead letters (not one per record: a poisoned
    topic would flood the log), with the count and the first offset and message."""
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault((letter.message.topic(), letter.error_class), []).append(letter)
    for (topic, error_class), group in groups.items():
        first = group[0]
        log.warning("%d dead letters from %s (%s), first at [%d] offset %d: %s", len(group), topic, error_class,
                    first.message.partition(), first.message.offset(), first.error,
                    extra={"topic": topic, "error_class": error_class, "count": len(group),
                           "partition": first.message.partition(), "offset": first.message.offset()})
