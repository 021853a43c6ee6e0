"""Consumer-group lag of every group on the cluster, exported as Prometheus gauges.

Computed from the group's committed offsets and the partitions' end offsets (high watermarks), both
read with the AdminClient, for every consumer group the cluster lists, not only the sink's own. A
background thread takes the snapshots: a scrape gets one taken after it arrived when that comes within
a bounded wait, else the latest (on a busy cluster a snapshot can outlive Prometheus' scrape timeout,
and a scrape that times out records nothing at all).

* ``kafka_consumergroup_group_lag{group,topic,partition}`` = end offset - committed offset;
* ``kafka_consumergroup_group_lag_seconds{group,topic,partition}``: the age of the oldest record the
  group has not consumed, i.e. now minus the timestamp of the record at the committed offset (0 when
  the lag is 0). The timestamp is the record's CreateTime, which SynFinance sets to the event time
  (SPEC section 2): with live time that is when the payment happened; with simulated time it is a
  simulated instant, and the figure then measures distance from the simulated clock, not delay.
  If retention already deleted it, the oldest record still stored is used. The record is read once
  by a probe consumer (assign, no group membership, no commits) and cached.

A partition the group has never committed an offset for has no lag sample (Kafka's own tools show
"-"). Names follow the de-facto kafka-lag-exporter ones, so existing dashboards work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from synfinance.common.kafka_clients import client_config
from synfinance.common.kafka_logging import CLIENT_LOG

__all__ = ["LagCollector", "LagReader", "PartitionLag"]

PROBE_GROUP = "synfin-lag-probe"  # never joins or commits, so it never shows as a group itself
_CACHE_LIMIT = 50_000
STALE_AFTER_INTERVALS = 3  # a snapshot this many intervals old is dropped, not exported
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """One group's position on one partition."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int
    lag_seconds: float | None  # None when the oldest unconsumed record could not be read in time


class LagReader:
    """Reads committed offsets, end offsets and record timestamps; one instance per exporter."""

    def __init__(self, kafka_config: dict[str, str], timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = kafka_config
        self._admin = AdminClient(client_config(kafka_config))
        self.timeout = timeout
        self._clock = clock
        self._probe: Any = None
        self._lock = threading.Lock()
        self._timestamps: dict[tuple[str, int, int], int] = {}  # (topic, partition, offset) -> ms

    def groups(self) -> list[str]:
        """Every consumer group the cluster lists."""
        listed = self._admin.list_consumer_groups(request_timeout=self.timeout).result()
        if listed.errors and not listed.valid:  # no broker answered: not "no groups"
            raise KafkaException(listed.errors[0])
        return sorted(g.group_id for g in listed.valid if not g.group_id.startswith(PROBE_GROUP))

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets (partitions without one are left out)."""
        request = [ConsumerGroupTopicPartitions(group)]
        future = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout)[group]
        return {(tp.topic, tp.partition): tp.offset for tp in future.result().topic_partitions or []
                if tp.offset >= 0 and tp.error is None}

    def _offsets(self, partitions: set[tuple[str, int]], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        request = {TopicPartition(t, p): spec for t, p in partitions}
        futures = self._admin.list_offsets(request, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    def snapshot(self, groups: list[str] | None = None) -> list[PartitionLag]:
        """Lag of every (group, topic, partition) with a committed offset, at this moment."""
        with self._lock:  # concurrent scrapes share the probe consumer and the cache
            return self._snapshot(groups)

    def _snapshot(self, groups: list[str] | None) -> list[PartitionLag]:
        groups = self.groups() if groups is None else groups
        committed = {group: self.committed(group) for group in groups}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = self._offsets(partitions, OffsetSpec.latest())
        starts = self._offsets(partitions, OffsetSpec.earliest())
        # the oldest unconsumed record that still exists: retention may have deleted those before it
        oldest = {(group, t, p): max(o, starts.get((t, p), o)) for group, offsets in committed.items()
                  for (t, p), o in offsets.items()}
        wanted = {(t, p, o) for (_, t, p), o in oldest.items() if o < ends.get((t, p), o)}
        timestamps = self._record_timestamps(wanted)
        now = self._clock()
        out = []
        for group in groups:
            for (topic, partition), offset in sorted(committed[group].items()):
                end = ends.get((topic, partition))
                if end is None:
                    continue
                lag = max(end - offset, 0)
                seconds: float | None = 0.0
                if lag:
                    ts = timestamps.get((topic, partition, oldest[(group, topic, partition)]))
                    seconds = None if ts is None else max(now - ts / 1000.0, 0.0)
                out.append(PartitionLag(group, topic, partition, offset, end, lag, seconds))
        return out

    def _record_timestamps(self, wanted: set[tuple[str, int, int]]) -> dict[tuple[str, int, int], int]:
        """Timestamps (ms) of the records at these offsets: cached, else read by the probe consumer."""
        missing = sorted(key for key in wanted if key not in self._timestamps)
        if missing:
            if len(self._timestamps) > _CACHE_LIMIT:
                self._timestamps.clear()
            # one offset per partition per round: several groups may wait at different offsets of one partition
            rounds: dict[tuple[str, int], list[int]] = {}
            for t, p, o in missing:
                rounds.setdefault((t, p), []).append(o)
            for r in range(max(len(offsets) for offsets in rounds.values())):
                starts = {tp: offsets[r] for tp, offsets in rounds.items() if r < len(offsets)}
                self._timestamps.update(self._read_first_records(starts))
        return {key: self._timestamps[key] for key in wanted if key in self._timestamps}

    def _read_first_records(self, starts: dict[tuple[str, int], int]) -> dict[tuple[str, int, int], int]:
        if self._probe is None:
            self._probe = Consumer(client_config({
                **self._config, "group.id": PROBE_GROUP, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "enable.partition.eof": False,
                # one record per partition is all we read
                "max.partition.fetch.bytes": 65536, "fetch.max.bytes": 1_048_576}))
        probe = self._probe
        assignment = [TopicPartition(t, p, o) for (t, p), o in starts.items()]
        probe.assign(assignment)
        probe.resume(assignment)  # librdkafka keeps a partition's pause across assignments
        found: dict[tuple[str, int, int], int] = {}
        pending = dict(starts)
        deadline = time.monotonic() + self.timeout
        try:
            while pending and time.monotonic() < deadline:
                for message in probe.consume(num_messages=max(len(pending), 1), timeout=0.2):
                    if message.error() is not None:
                        continue
                    key = (message.topic(), message.partition())
                    if key in pending:
                        # the record at that offset, or the first after it if compaction removed it:
                        # either way the oldest one still waiting
                        found[(*key, pending.pop(key))] = message.timestamp()[1]
                        probe.pause([TopicPartition(*key)])
        finally:
            probe.unassign()
        if pending:
            log.warning("lag exporter: no record read within %.0f s for %d partitions", self.timeout, len(pending))
        return found

    def reconnect(self) -> None:
        """New clients for the next snapshot (the old ones are closed)."""
        with self._lock:
            self._admin = AdminClient(client_config(self._config))
            if self._probe is not None:
                self._probe.close()
                self._probe = None

    def close(self) -> None:
        with self._lock:
            if self._probe is not None:
                self._probe.close()
                self._probe = None


class LagCollector(Collector):
    """Prometheus collector of ``LagReader.snapshot()``, fresh at each scrape within a bounded wait.

    ``start()`` runs a daemon thread that takes a snapshot every ``interval`` seconds and whenever a
    scrape asks; a scrape waits up to ``fresh_wait`` seconds for a snapshot begun after it arrived
    (the lag at the moment of the scrape), else serves the latest one, so a slow cluster never makes a
    scrape outlive Prometheus' timeout (a timed-out scrape records nothing at all). The age of the
    oldest waiting record is advanced by the time since its snapshot. Without the thread, ``refresh()``
    takes a snapshot and scrapes serve it.
    """

    def __init__(self, reader: LagReader, interval: float = 5.0, fresh_wait: float = 0.8,
                 clock: Callable[[], float] = time.time) -> None:
        self.reader = reader
        self.interval = interval
        self.fresh_wait = fresh_wait
        self._clock = clock
        self._latest: tuple[float, list[PartitionLag]] | None = None
        self._changed = threading.Condition()
        self._asked = 0  # scrapes that asked for a snapshot, numbered
        self._answered = 0  # every scrape numbered up to this has a snapshot begun after it asked
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Take a snapshot now; a Kafka error keeps the previous one (and is logged)."""
        with self._changed:
            answers = self._asked  # the scrapes that asked before this snapshot began
        try:
            snapshot: list[PartitionLag] | None = self.reader.snapshot()
        except KafkaException as exc:  # every few seconds while the broker is away: said once a minute
            CLIENT_LOG.report(logging.WARNING, "lag-exporter", exc.args[0].str() if exc.args else str(exc))
            snapshot = None
            # a client that saw its broker go can keep timing out after it is back (seen after a broker
            # restart): the next snapshot asks with fresh clients
            self.reader.reconnect()
        with self._changed:
            if snapshot is not None:
                self._latest = (self._clock(), snapshot)
            elif self._latest is not None and self._clock() - self._latest[0] > STALE_AFTER_INTERVALS * self.interval:
                self._latest = None  # export nothing rather than a lag that is no longer true
            self._answered = max(self._answered, answers)
            self._changed.notify_all()

    def start(self) -> LagCollector:
        self._thread = threading.Thread(target=self._loop, name="lag-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.reader.timeout + self.interval)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.refresh()
            with self._changed:
                self._changed.wait_for(lambda: self._stopping.is_set() or self._asked > self._answered,
                                       timeout=self.interval)

    def _await_fresh(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        with self._changed:
            self._asked += 1
            ticket = self._asked
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._answered >= ticket, timeout=self.fresh_wait)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily("kafka_consumergroup_group_lag",
                                "Messages the group has not consumed: end offset - committed offset.", labels=labels)
        seconds = GaugeMetricFamily(
            "kafka_consumergroup_group_lag_seconds",
            "Age of the oldest record the group has not consumed: now - timestamp of the record at the committed "
            "offset (records carry their event time).", labels=labels)
        self._await_fresh()
        taken, snapshot = self._latest or (0.0, [])  # before the first snapshot the families are empty
        since = max(self._clock() - taken, 0.0)
        for item in snapshot:
            values = [item.group, item.topic, str(item.partition)]
            lag.add_metric(values, item.lag)
            if item.lag_seconds is not None:
                seconds.add_metric(values, item.lag_seconds + since if item.lag else 0.0)
        yield lag
        yield seconds
