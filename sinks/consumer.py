"""The sink: a consumer group over the SynFinance topics, writing every record to PostgreSQL once.

``Sink(config).run()`` consumes with confluent-kafka (auto-commit off), gathers a batch by size or
age, prepares it (``sinks.prepare``: decode, validate, COPY rows, dead letters) and hands it to the
writer thread (``sinks.pipeline``), which commits the batch's offsets after the database
transaction. So a record is in PostgreSQL before its offset is committed, and a restart (or a crash,
SIGKILL included) replays at most the uncommitted tail, which ``ON CONFLICT`` makes harmless.

While the database is down the assigned partitions are paused: polling goes on (the group keeps us),
nothing new is fetched, nothing is committed. A rebalance first finishes (or, during an outage,
abandons) the batch in hand. SIGTERM/SIGINT stop consumption, write and commit what was consumed,
and leave the group.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from synfinance.common.kafka_clients import client_config, consumed
from synfinance.common.kafka_logging import CLIENT_LOG
from synfinance.common.otel import batch_tracer
from synfinance.sinks.copy_writer import CopyWriter
from synfinance.sinks.database import DEFAULT_SCHEMA
from synfinance.sinks.dlq import DeadLetterProducer
from synfinance.sinks.metrics import SinkMetrics
from synfinance.sinks.pipeline import BatchWriter
from synfinance.sinks.prepare import MessageBuffer, Preparer
from synfinance.sinks.tables import TABLES

__all__ = ["Sink", "SinkConfig", "SinkStats"]

log = logging.getLogger(__name__)
_POLL_S = 0.2  # longest wait in consume(): how fast a signal or a breaker change is noticed
_SHUTDOWN_WRITE_S = 15.0


@dataclass(frozen=True)
class SinkConfig:
    """What to consume, where to write, and how to batch."""

    kafka: Mapping[str, str]
    dsn: str
    topics: Mapping[str, str]  # topic -> schema name of its records
    dlq_topic: str
    group: str = "synfin-sink"
    schema: str = DEFAULT_SCHEMA
    batch_size: int = 20_000
    batch_ms: int = 1_000
    connections: int = 2  # batches written concurrently, each in its own transaction
    stop_when_idle: float | None = None  # exit once nothing arrived for this many seconds
    breaker_fail_max: int = 3
    breaker_reset_s: float = 5.0


@dataclass
class SinkStats:
    """Totals of one ``run``."""

    records: int = 0
    batches: int = 0


class Sink:
    """One sink process's consumer; ``run()`` until a signal, ``stop()`` or idleness."""

    def __init__(self, config: SinkConfig, metrics: SinkMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or SinkMetrics()
        self.stats = SinkStats()
        self._stopping = False
        self._fatal: KafkaError | None = None
        self._paused = False
        self._assigned: list[TopicPartition] = []
        self._position_committed: dict[tuple[str, int], int] = {}  # what we last committed, per partition
        # after an abandoned batch the consumer's position is past records that were never written:
        # committing it would skip them, so position commits wait for the next assignment
        self._position_trusted = True
        self._buffer = MessageBuffer()
        self._buffer_started = time.monotonic()
        self._heartbeat = time.monotonic()
        self._active = time.monotonic()  # last time there was something to do (for stop_when_idle)
        self._preparer = Preparer(config.topics)
        self.metrics.watch_tables(TABLES[schema].name for schema in config.topics.values())
        self._consumer = Consumer(client_config({
            **config.kafka, "group.id": config.group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False,
            # a batch is decoded and written before the next poll: allow a slow database some minutes
            "max.poll.interval.ms": 600_000,
            # a crashed sink's partitions move to the others after 10 s, not the default 45 s; heartbeats
            # come from librdkafka's own thread, so a long batch does not expire the session
            "session.timeout.ms": 10_000,
            "error_cb": self._kafka_error,
        }))
        self._writer = BatchWriter(
            [CopyWriter(config.dsn, config.schema) for _ in range(config.connections)],
            DeadLetterProducer(dict(config.kafka), config.dlq_topic),
            self.metrics, fail_max=config.breaker_fail_max, reset_timeout=config.breaker_reset_s,
            tracer=batch_tracer("synfinance-sink"))  # None unless synfinance[otel] and an OTLP endpoint

    # -- lifecycle ---------------------------------------------------------------------------------

    def stop(self, *_: Any) -> None:
        """Ask ``run`` to finish: write and commit what was consumed, then leave the group."""
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def alive(self) -> bool:
        return time.monotonic() - self._heartbeat < 60.0

    def ready(self) -> bool:
        """Broker and database usable: the breaker is closed and the writer is not waiting."""
        return self.alive() and not self._writer.blocked and self._writer.breaker.current_state == "closed"

    def run(self) -> SinkStats:
        self._consumer.subscribe(list(self.config.topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)
        self._active = time.monotonic()
        try:
            while not self._stopping:
                self._heartbeat = time.monotonic()
                self._check_writer()
                self._commit()
                if self._sync_pause():
                    # paused: this serves callbacks and keeps the group; anything already fetched is kept
                    self._add(self._consumer.consume(num_messages=1000, timeout=_POLL_S))
                    self._active = time.monotonic()
                    continue
                room = self.config.batch_size - len(self._buffer)
                messages = self._consumer.consume(num_messages=max(room, 1), timeout=self._wait())
                self._add(messages)
                if self._batch_due():
                    self._flush()
                elif self._idle_stop_due(bool(messages)):
                    break
        finally:
            self._shutdown()
        return self.stats

    def _shutdown(self) -> None:
        try:
            if self._writer.error is None:
                self._flush()
                if not self._writer.wait_idle(_SHUTDOWN_WRITE_S):
                    log.warning("shutdown: the last batch could not be written; it was not committed")
                    self._abandon()
                self._commit()
        finally:
            self._consumer.close()  # leaves the group now, not after session.timeout.ms
            self._writer.close()
        if self._writer.error is not None:
            raise self._writer.error
        if self._fatal is not None:
            raise KafkaException(self._fatal)

    # -- the loop's parts --------------------------------------------------------------------------

    def _wait(self) -> float:
        if not len(self._buffer):
            return _POLL_S
        left = self.config.batch_ms / 1000.0 - (time.monotonic() - self._buffer_started)
        return min(max(left, 0.0), _POLL_S)

    def _add(self, messages: list[Message]) -> None:
        good = consumed(messages)
        if len(good) != len(messages):
            for message in messages:
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error on %s [%s]: %s", message.topic(), message.partition(), error,
                                extra={"topic": message.topic(), "partition": message.partition(),
                                       "error_code": error.name()})
        if good and not len(self._buffer):
            self._buffer_started = time.monotonic()
        self._buffer.add(good)

    def _batch_due(self) -> bool:
        n = len(self._buffer)
        return n >= self.config.batch_size or (
            n > 0 and (time.monotonic() - self._buffer_started) * 1000.0 >= self.config.batch_ms)

    def _idle_stop_due(self, got_messages: bool) -> bool:
        """``--stop-when-idle``: partitions owned, nothing new on them, everything written, for long enough."""
        limit = self.config.stop_when_idle
        if limit is None:
            return False
        now = time.monotonic()
        if got_messages or not self._assigned or len(self._buffer) or not self._writer.idle or self._paused:
            self._active = now
        return now - self._active >= limit

    def _flush(self, polling: bool = True) -> None:
        """Prepare the buffered messages and hand them to the writer (waits while it is busy).

        ``polling=False`` inside a rebalance callback, where the consumer must not be polled."""
        if not len(self._buffer):
            return
        buffer, self._buffer = self._buffer, MessageBuffer()
        prepared = self._preparer.prepare(buffer)
        self.stats.records += len(buffer)
        self.stats.batches += 1
        while not self._writer.submit(prepared, timeout=_POLL_S):
            self._check_writer()
            self._commit()
            if (self._stopping or not polling) and self._writer.blocked:
                # stopping or losing the partitions during an outage: give up the batches in hand and
                # this one; nothing after an abandoned batch may be committed (that would skip it)
                self._abandon()
                log.warning("%d records not written (database unavailable); they will be consumed again",
                            len(buffer), extra={"records": len(buffer)})
                return
            if polling and self._sync_pause():  # the writer is retrying: keep the group alive meanwhile
                self._add(self._consumer.consume(num_messages=1000, timeout=0))
        self._active = time.monotonic()

    def _check_writer(self) -> None:
        if self._writer.error is not None:
            raise RuntimeError(f"sink writer failed: {self._writer.error}") from self._writer.error

    def _sync_pause(self) -> bool:
        """Pause the assigned partitions while the writer waits for the database; resume after."""
        blocked = self._writer.blocked
        if blocked != self._paused and self._assigned:
            (self._consumer.pause if blocked else self._consumer.resume)(self._assigned)
            log.info("%s %d partitions", "paused" if blocked else "resumed", len(self._assigned))
        self._paused = blocked
        self.metrics.paused.set(1 if blocked else 0)
        return blocked

    def _abandon(self) -> None:
        """Give up the batches in hand (see ``BatchWriter.abandon``)."""
        self._writer.abandon()
        self._position_trusted = False

    def _commit(self) -> None:
        """Commit the offsets of the batches the writer has stored in the database."""
        offsets = self._writer.completed_offsets()
        if (self._position_trusted and self._assigned and not len(self._buffer) and self._writer.idle
                and not self._paused):
            # Everything consumed is stored, so each position is a safe commit point. It matters for topics
            # written by transactional producers (scored, alerts): a commit marker follows the last record,
            # and "last record + 1" would leave a lag of 1 per partition forever.
            for tp in self._consumer.position(self._assigned):
                key = (tp.topic, tp.partition)
                if tp.offset >= 0 and tp.offset > self._position_committed.get(key, -1):
                    offsets[key] = max(tp.offset, offsets.get(key, -1))
        if not offsets:
            return
        self._position_committed.update(offsets)
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # e.g. a rebalance took the partitions: the rows are written, and a redelivery is a no-op
            log.warning("offset commit failed (records will be redelivered, then skipped): %s", exc,
                        extra={"offsets": {f"{t}[{p}]": o for (t, p), o in offsets.items()}})

    # -- rebalancing -------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = list(partitions)
        self._position_committed.clear()
        self._position_trusted = True  # fetching restarts from the committed offsets
        self.metrics.assigned.set(len(self._assigned))
        if self._paused and partitions:
            consumer.pause(partitions)
        log.info("assigned %d partitions", len(partitions),
                 extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Before partitions go: write and commit what was consumed from them, or, during an
        outage, abandon it (the next owner consumes it again from the committed offsets)."""
        self._commit()
        if self._writer.blocked:
            self._abandon()
            self._buffer = MessageBuffer()
        else:
            self._flush(polling=False)
            if not self._writer.wait_idle(_SHUTDOWN_WRITE_S):
                self._abandon()
            self._commit()
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._buffer.drop_partitions(gone)
        self._assigned = [tp for tp in self._assigned if (tp.topic, tp.partition) not in gone]
        self.metrics.assigned.set(len(self._assigned))
        log.info("revoked %d partitions", len(partitions),
                 extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]})

    def _kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            log.error("fatal Kafka error: %s", error, extra={"error_code": error.name()})
            self._fatal = error
            self._stopping = True
        else:  # transports come and go (a broker restart); librdkafka reconnects by itself
            CLIENT_LOG.error(error)
