"""A thin, typed confluent-kafka producer for the hot path, and the headers every record carries.

`KafkaProducer(config)` adds defaults, a lifecycle (context manager; `close()` flushes) and counters
to `confluent_kafka.Producer`; Kafka's own config names pass through unchanged and win over ours.

Delivery accounting costs no Python call per message. librdkafka is told to report failures only
(`delivery.report.only.error`), so the one Python callback runs for a failed message and nothing else;
successes are counted from the outstanding-message count instead: settled = produced - len(producer).
Delivery latency comes from the same count: each `send` remembers (when, how many produced so far);
once `settled` reaches that mark, the batch's latency is observed. That is the time until *as many*
messages as had been produced were acknowledged: exact when acknowledgements arrive in produce order
(one broker, one request for all partitions, as on our stack) and a close estimate otherwise.
A Python callback on every message costs 10-25% of a bare client's throughput (measured.md), so none is
made. A callback on 1-in-N messages only would not see the other N-1 fail.

Headers cost more than that: pre-encoded records with the four full headers reach about half the client's
rate without headers (measured 2026-12-01: 164k vs 329k txn/s, one broker, 2 cores). Two of them are the
same on every record of a topic (`synfin-seed`, and `synfin-schema`, which repeats the value's own
fingerprint or schema id), so the `lean` header set sends only `synfin-seq` and `traceparent`, and the run
states its seed and schemas once, in a run-info record (`producers.producer`).

>>> headers = RecordHeaders(seed=42, schema="transaction")
>>> headers.schema_value
b'in.synfinance.Transaction@9bb6d1b158fcfb5e'
>>> headers.one(7, b"00-...-01")[:2]
[('synfin-seed', b'42'), ('synfin-seq', b'7')]
>>> RecordHeaders(seed=42, schema="transaction", header_set="lean").one(7, b"00-...-01")
[('synfin-seq', b'7'), ('traceparent', b'00-...-01')]
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from synfinance.common.kafka_clients import (
    KEYED_PRODUCER,
    KafkaHeaders,
    client_config,
    cluster_metadata,
    produce_when_room,
)
from synfinance.common.kafka_logging import CLIENT_LOG
from synfinance.common.trace import TRACE_HEADER, traceparents
from synfinance.schemas.codec import fingerprint, schema_json

__all__ = [
    "HEADER_SETS",
    "PRODUCER_DEFAULTS",
    "DeliveryTracker",
    "HeaderSet",
    "KafkaProducer",
    "RecordHeaders",
    "traceparents",
]

PRODUCER_DEFAULTS: dict[str, Any] = {
    **KEYED_PRODUCER,  # acks=all, idempotence, lz4, and the partitioner Faust and the Java client use
    # linger/batch measured with bench/bench_produce.py: 10 ms fills 1 MB lz4 batches at 100k+ msg/s and
    # adds nothing noticeable at low rates
    "linger.ms": 10,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    # room for a few seconds at full speed, so produce() rarely meets BufferError
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    # librdkafka retries a failed send until message.timeout.ms (default 300 s); only then is a message
    # failed and reported (and counted by us)
    "delivery.report.only.error": True,
}
# librdkafka's view of a broker coming and going; the run goes on (messages wait and are retried)
_TRANSIENT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}

SEED_HEADER, SEQ_HEADER, SCHEMA_HEADER = "synfin-seed", "synfin-seq", "synfin-schema"
HeaderSet = Literal["full", "lean"]
# the header names each set gives every record, in order
HEADER_SETS: dict[str, tuple[str, ...]] = {"full": (SEED_HEADER, SEQ_HEADER, SCHEMA_HEADER, TRACE_HEADER),
                                           "lean": (SEQ_HEADER, TRACE_HEADER)}


@dataclass(frozen=True)
class RecordHeaders:
    """The SPEC §2 headers of one topic's records.

    `synfin-seed` is the seed; `synfin-seq` the record's position, in decimal ASCII (the caller says
    which position: see `producers.producer`); `synfin-schema` the writer schema's full name and
    CRC-64-AVRO fingerprint in hex, in the byte order of the single-object header; `traceparent` a
    W3C trace context (random: not part of the determinism contract). `header_set="lean"` sends only
    `synfin-seq` and `traceparent`.
    """

    seed: int
    schema: str
    header_set: HeaderSet = "full"

    def __post_init__(self) -> None:
        if self.header_set not in HEADER_SETS:
            raise ValueError(f"header set {self.header_set!r}: expected full or lean")

    @property
    def lean(self) -> bool:
        return self.header_set == "lean"

    @cached_property
    def schema_value(self) -> bytes:
        raw = schema_json(self.schema)
        return f"{raw['namespace']}.{raw['name']}@{fingerprint(self.schema).hex()}".encode()

    @cached_property
    def constant_pairs(self) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
        """The seed and schema pairs: the same tuple objects in every record's list."""
        return (SEED_HEADER, str(self.seed).encode()), (SCHEMA_HEADER, self.schema_value)

    def one(self, position: int, trace: bytes) -> KafkaHeaders:
        if self.lean:
            return [(SEQ_HEADER, b"%d" % position), (TRACE_HEADER, trace)]
        seed, schema = self.constant_pairs
        return [seed, (SEQ_HEADER, b"%d" % position), schema, (TRACE_HEADER, trace)]


@dataclass
class DeliveryTracker:
    """Delivery latency from the outstanding-message count (see the module docstring).

    >>> tracker = DeliveryTracker()
    >>> tracker.sent(100, now=1.0); tracker.sent(50, now=1.5)
    >>> tracker.settled(120, now=1.2)   # the first 100 are in: their batch took 0.2 s
    [(0.2, 100)]
    >>> tracker.settled(150, now=1.9)
    [(0.4, 50)]
    """

    window_s: float = 10.0
    _marks: deque[tuple[float, int, int]] = field(default_factory=deque)  # (sent at, cumulative, count)
    _sent_total: int = 0
    _recent: deque[tuple[float, float, int]] = field(default_factory=deque)  # (settled at, latency, count)

    def sent(self, count: int, now: float) -> None:
        self._sent_total += count
        self._marks.append((now, self._sent_total, count))

    def settled(self, settled_total: int, now: float) -> list[tuple[float, int]]:
        """Batches now fully settled, as (latency seconds, messages)."""
        done = []
        marks = self._marks
        while marks and marks[0][1] <= settled_total:
            sent_at, _, count = marks.popleft()
            latency = round(now - sent_at, 9)
            done.append((latency, count))
            self._recent.append((now, latency, count))
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()
        return done

    def percentiles(self, *qs: float) -> list[float | None]:
        """Message-weighted latency percentiles (0-100) over the last `window_s`; None when empty."""
        if not self._recent:
            return [None for _ in qs]
        latencies = np.array([r[1] for r in self._recent])
        weights = np.array([r[2] for r in self._recent], dtype=np.float64)
        order = np.argsort(latencies, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        return [float(latencies[order][min(int(np.searchsorted(cumulative, q / 100)), len(order) - 1)]) for q in qs]


class KafkaProducer:
    """confluent-kafka `Producer` with our defaults, counters and a flush on exit.

    `config` is the client config (bootstrap servers, security) plus any overrides of
    `PRODUCER_DEFAULTS`. `on_latency` is called with (seconds, messages) for every settled batch.
    """

    def __init__(self, config: dict[str, Any], clock: Callable[[], float] = time.monotonic,
                 on_latency: Callable[[float, int], None] | None = None) -> None:
        self.config = {**PRODUCER_DEFAULTS, **config}
        self.clock = clock
        self.on_latency = on_latency
        self.produced: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.last_failure: str | None = None
        self.last_warning: str | None = None
        self.fatal_error: KafkaError | None = None
        self.buffer_full_waits = 0
        self.tracker = DeliveryTracker()
        self._produced_total = 0
        self._producer = Producer(client_config({**self.config, "on_delivery": self._on_delivery,
                                                 "error_cb": self._on_error}))

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> KafkaProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 30.0) -> int:
        """Flush; returns the number of messages still undelivered after `timeout` seconds."""
        return self.flush(timeout)

    def check_broker(self, timeout: float) -> None:
        """Raise a one-line `Unreachable` unless a broker answers a metadata request within `timeout`."""
        cluster_metadata(self._producer, self.config, timeout)

    def topics(self, timeout: float = 10.0) -> set[str]:
        return set(self._producer.list_topics(timeout=timeout).topics)

    # -- hot path ---------------------------------------------------------------------------------

    def send(self, topic: str, values: Sequence[bytes], keys: Sequence[bytes], timestamps_ms: Sequence[int],
             headers: RecordHeaders, positions: Iterable[int], traces: Iterable[bytes]) -> None:
        """Produce records (parallel sequences) in order, each with `headers` for its position and trace.
        Never drops one: a full local queue is waited out by polling, then the record is produced again."""
        produce = self._producer.produce
        seed, schema = headers.constant_pairs
        lean = headers.lean
        sent = 0
        try:
            for value, key, timestamp, position, trace in zip(values, keys, timestamps_ms, positions, traces,
                                                              strict=True):
                # the header list is made here and dropped right after produce(): lists made in bulk
                # beforehand survive long enough to keep the cyclic GC busy (~1 µs per record). One
                # branch, not a call to RecordHeaders.one: a Python call costs more than the test.
                header: KafkaHeaders = ([(SEQ_HEADER, b"%d" % position), (TRACE_HEADER, trace)] if lean
                                        else [seed, (SEQ_HEADER, b"%d" % position), schema, (TRACE_HEADER, trace)])
                try:
                    produce(topic, value, key, timestamp=timestamp, headers=header)
                except BufferError:  # the queue empties as the broker acknowledges: the shared wait
                    self.buffer_full_waits += 1
                    produce_when_room(self._producer, topic, value, key, timestamp=timestamp, headers=header,
                                      on_wait=self._raise_if_fatal)
                sent += 1
        finally:
            # count what reached librdkafka even if the loop was interrupted, so settled stays exact
            self.produced[topic] += sent
            self._produced_total += sent
            self.tracker.sent(sent, self.clock())
        self.service()

    def service(self, timeout: float = 0.0) -> None:
        """Serve failure reports and client errors, and observe the latency of settled batches."""
        self._producer.poll(timeout)
        self._raise_if_fatal()
        now = self.clock()
        for latency, count in self.tracker.settled(self._produced_total - len(self._producer), now):
            if self.on_latency is not None:
                self.on_latency(latency, count)

    def flush(self, timeout: float, tick: Callable[[], None] | None = None) -> int:
        """Wait until every produced message is settled or `timeout` passes; returns those left.
        `tick` is called between short waits (live stats during a long flush)."""
        deadline = self.clock() + timeout
        while self._outstanding() and self.clock() < deadline:
            self._producer.flush(min(0.2, max(deadline - self.clock(), 0.0)))
            self.service()
            if tick is not None:
                tick()
        self.service()
        return self._outstanding()

    def _outstanding(self) -> int:
        """Messages not yet settled. len() counts unserved client events too (error and log callbacks,
        which keep coming while a broker is down), so serve those first."""
        while self._producer.poll(0):
            pass
        return len(self._producer)

    # -- counters ---------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._producer)

    @property
    def produced_total(self) -> int:
        return self._produced_total

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def delivered_total(self) -> int:
        # len() also counts client events not yet served (an error or log callback while a broker is
        # down): for a moment it can exceed the messages outstanding, never the other way round
        return max(self._produced_total - len(self._producer) - self.failed_total, 0)

    # -- callbacks (run inside poll/flush, on this thread) ------------------------------------------

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        # with delivery.report.only.error (our default) only failures reach here: librdkafka gave up
        # after its retries. Set it false and every message costs this call (what the bench compares).
        if error is None:
            return
        self.failed[message.topic() or "?"] += 1
        self.last_failure = error.str()

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal_error = error
        elif error.code() in _TRANSIENT:
            self.last_warning = error.str()  # expected while a broker restarts; librdkafka reconnects
        else:
            self.last_warning = f"{error.name()}: {error.str()}"
            CLIENT_LOG.error(error)

    def _raise_if_fatal(self) -> None:
        if self.fatal_error is not None:
            # a fatal idempotence error: the producer can no longer guarantee order or no-duplicates
            raise KafkaException(self.fatal_error)
