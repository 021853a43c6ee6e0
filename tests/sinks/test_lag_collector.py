"""The lag collector answers a scrape at once from its latest snapshot, however slow a snapshot is."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sinks.lag import LagCollector, PartitionLag


class SlowReader:
    """Stands in for LagReader: each snapshot takes `delay` seconds (a busy cluster)."""

    timeout = 1.0

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.snapshots = 0
        self.first = threading.Event()

    def snapshot(self) -> list[PartitionLag]:
        time.sleep(self.delay)
        self.snapshots += 1
        self.first.set()
        return [PartitionLag("g", "t", 0, 10, 15, 5, 30.0), PartitionLag("g", "t", 1, 7, 7, 0, 0.0)]


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(registry).decode()
    return {(s.name, s.labels["partition"]): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_scrapes_are_served_from_the_latest_snapshot_without_waiting() -> None:
    now = [1000.0]
    reader = SlowReader(delay=0.3)
    collector = LagCollector(reader, interval=60.0, clock=lambda: now[0])  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(collector)

    started = time.monotonic()
    assert samples(registry) == {}  # before the first snapshot: declared, empty
    assert time.monotonic() - started < 0.1

    collector.start()
    try:
        assert reader.first.wait(5)
        time.sleep(0.05)
        now[0] += 4.0  # four seconds after the snapshot
        started = time.monotonic()
        got = samples(registry)
        assert time.monotonic() - started < 0.1  # no snapshot taken during the scrape
        assert reader.snapshots == 1
    finally:
        collector.stop()
    assert got == {("kafka_consumergroup_group_lag", "0"): 5.0, ("kafka_consumergroup_group_lag", "1"): 0.0,
                   ("kafka_consumergroup_group_lag_seconds", "0"): 34.0,  # aged by the time since the snapshot
                   ("kafka_consumergroup_group_lag_seconds", "1"): 0.0}
