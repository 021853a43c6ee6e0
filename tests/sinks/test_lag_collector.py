"""The lag collector answers a scrape with a snapshot taken after the scrape arrived, or, when that
does not come within its wait, at once with the latest one."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from synfinance.sinks.lag import LagCollector, PartitionLag


class SlowReader:
    """Stands in for LagReader: each snapshot takes `delay` seconds (a busy cluster); the n-th
    snapshot reports a lag of n on partition 0."""

    timeout = 1.0

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.snapshots = 0
        self.first = threading.Event()

    def snapshot(self) -> list[PartitionLag]:
        time.sleep(self.delay)
        self.snapshots += 1
        self.first.set()
        n = self.snapshots
        return [PartitionLag("g", "t", 0, 10, 10 + n, n, 30.0), PartitionLag("g", "t", 1, 7, 7, 0, 0.0)]


def scrape(registry: CollectorRegistry) -> tuple[dict[tuple[str, str], float], float]:
    started = time.monotonic()
    text = generate_latest(registry).decode()
    samples = {(s.name, s.labels["partition"]): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return samples, time.monotonic() - started


def test_a_scrape_waits_for_a_fresh_snapshot_only_as_long_as_allowed() -> None:
    now = [1000.0]
    reader = SlowReader(delay=0.3)
    collector = LagCollector(reader, interval=60.0, fresh_wait=0.05, clock=lambda: now[0])  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(collector)

    samples, took = scrape(registry)
    assert samples == {} and took < 0.1  # no thread, no snapshot yet: declared, empty, at once

    collector.start()
    try:
        assert reader.first.wait(5)
        time.sleep(0.05)
        now[0] += 4.0  # four seconds after the first snapshot
        samples, took = scrape(registry)  # asks for a fresh one, which takes 0.3 s: the wait is 0.05 s
        assert took < 0.25
        assert samples == {("kafka_consumergroup_group_lag", "0"): 1.0, ("kafka_consumergroup_group_lag", "1"): 0.0,
                           ("kafka_consumergroup_group_lag_seconds", "0"): 34.0,  # aged since its snapshot
                           ("kafka_consumergroup_group_lag_seconds", "1"): 0.0}

        collector.fresh_wait = 5.0
        before = reader.snapshots
        samples, took = scrape(registry)  # now it waits for a snapshot begun after the scrape arrived
        assert reader.snapshots >= before + 1 and 0.25 <= took < 2.0
        assert samples[("kafka_consumergroup_group_lag", "0")] == reader.snapshots
        assert samples[("kafka_consumergroup_group_lag_seconds", "0")] == 30.0
    finally:
        collector.stop()


class FlakyReader:
    """A reader whose broker goes away after the first snapshot: every later one raises until `back`."""

    timeout = 1.0

    def __init__(self) -> None:
        self.back, self.reconnects, self.calls = False, 0, 0

    def snapshot(self) -> list[PartitionLag]:
        self.calls += 1
        if self.calls > 1 and not self.back:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed while waiting for response from broker"))
        return [PartitionLag("g", "t", 0, 10, 15, 5, 3.0)]

    def reconnect(self) -> None:
        self.reconnects += 1


def test_an_outage_reconnects_and_never_exports_a_stale_lag() -> None:
    now = [1000.0]
    reader = FlakyReader()
    collector = LagCollector(reader, interval=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(collector)
    collector.refresh()
    assert scrape(registry)[0][("kafka_consumergroup_group_lag", "0")] == 5.0
    now[0] += 5.0
    collector.refresh()  # fails: fresh clients next time, the last snapshot is kept while still recent
    assert reader.reconnects == 1
    assert scrape(registry)[0][("kafka_consumergroup_group_lag", "0")] == 5.0
    now[0] += 11.0  # 16 s old: more than three intervals
    collector.refresh()
    assert reader.reconnects == 2 and scrape(registry)[0] == {}  # nothing rather than a stale lag
    reader.back = True
    collector.refresh()
    assert reader.reconnects == 2 and scrape(registry)[0][("kafka_consumergroup_group_lag", "0")] == 5.0
