"""The exported consumer lag equals Kafka's own view at the moment of the scrape, for every group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from synfinance.sinks.lag import LagCollector, LagReader
from synfinance.sinks.metrics import MetricsServer, SinkMetrics
from synfinance.stack.processes import free_port

pytestmark = pytest.mark.integration

RECORDS = 3_000
HOUR_MS = 3_600_000


def _kafka_view(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    """(committed, end) per partition as a member of the group sees them."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: (tp.offset, consumer.get_watermark_offsets(tp, timeout=10)[1]) for tp in committed}
    finally:
        consumer.close()


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def test_exported_lag_equals_kafkas_view_for_every_group(rig: Any, stream: Any) -> None:
    topic = rig.topics["transactions"]
    records = stream.transactions.slice(0, RECORDS)
    base_ms = int(time.time() * 1000) - HOUR_MS  # an hour old, one millisecond apart
    records.timestamps = [base_ms + i for i in range(RECORDS)]
    positions = rig.produce("transactions", records)
    timestamp_at = {pos: ts for pos, ts in zip(positions, records.timestamps, strict=True)}
    ends = {p: sum(1 for q, _ in positions if q == p) for p in range(3)}

    groups = {f"lag-a-{rig.tag}": {p: ends[p] // 3 for p in range(3)},   # behind on every partition
              f"lag-b-{rig.tag}": {0: ends[0], 1: 0, 2: ends[2] - 1}}     # caught up, all behind, one behind
    for group, offsets in groups.items():
        _commit(rig.bootstrap, group, topic, offsets)

    metrics = SinkMetrics()
    reader = LagReader({"bootstrap.servers": rig.bootstrap})
    collector = LagCollector(reader, fresh_wait=30.0)  # a loaded CI machine: wait for the fresh one
    metrics.registry.register(collector.start())
    server = MetricsServer(metrics, free_port(), alive=lambda: True, ready=lambda: True, host="127.0.0.1")
    try:
        before = time.time()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as response:
            text = response.read().decode()
        after = time.time()
    finally:
        server.close()
        collector.stop()
        reader.close()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    exported = {(s.labels["group"], int(s.labels["partition"])): s.value
                for s in families["kafka_consumergroup_group_lag"].samples if s.labels["topic"] == topic}
    seconds = {(s.labels["group"], int(s.labels["partition"])): s.value
               for s in families["kafka_consumergroup_group_lag_seconds"].samples if s.labels["topic"] == topic}
    for group, offsets in groups.items():
        view = _kafka_view(rig.bootstrap, group, topic, 3)
        for partition, (committed, end) in view.items():
            assert committed == offsets[partition]
            assert exported[(group, partition)] == end - committed
            if end == committed:
                assert seconds[(group, partition)] == 0.0
            else:  # the oldest unconsumed record is the one at the committed offset
                ts = timestamp_at[(partition, committed)] / 1000.0
                assert before - ts - 0.01 <= seconds[(group, partition)] <= after - ts + 0.01
    assert len([key for key in exported if key[0] in groups]) == 6


def test_records_from_a_transactional_producer_leave_no_lag(rig: Any, stream: Any) -> None:
    """A commit marker follows each transaction's records (the processor writes scored and alerts this
    way): once the sink has stored everything, its committed offsets must reach the end offsets."""
    from confluent_kafka import Producer

    topic = rig.topics["transactions"]
    records = stream.transactions.slice(0, 2_000)
    producer = Producer({"bootstrap.servers": rig.bootstrap, "transactional.id": f"lag-tx-{rig.tag}"})
    producer.init_transactions(30)
    for start in range(0, len(records.keys), 500):  # four transactions: four markers per partition
        producer.begin_transaction()
        for key, value, ts in zip(records.keys[start:start + 500], records.values[start:start + 500],
                                  records.timestamps[start:start + 500], strict=True):
            producer.produce(topic, key=key, value=value, timestamp=ts)
        producer.commit_transaction(30)
    rig.run_sink("--topics", "transactions")
    assert rig.counts("transactions") == (2_000, 2_000)
    view = _kafka_view(rig.bootstrap, rig.group, topic, 3)
    assert all(committed == end > 0 for committed, end in view.values()), view


def test_the_lag_exporter_runs_on_its_own_and_stops_on_sigterm(kafka_bootstrap: str) -> None:
    """`synfinance lag-exporter` in its own process: the lag of a group with no sink at all, then exit 0."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    tag = uuid.uuid4().hex[:8]
    topic, group = f"lag-alone-{tag}", f"lag-alone-{tag}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(10):
        producer.produce(topic, b"v", str(i).encode(), partition=0)
    assert producer.flush(10) == 0
    _commit(kafka_bootstrap, group, topic, {0: 4})
    port = free_port()
    exporter = subprocess.Popen([sys.executable, "-m", "synfinance.cli", "lag-exporter", "--metrics-port", str(port),
                                 "--interval", "0.5"], env={**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lag, deadline = None, time.monotonic() + 60
        while lag != 6.0 and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                continue
            lag = next((s.value for f in text_string_to_metric_families(text) for s in f.samples
                        if s.name == "kafka_consumergroup_group_lag" and s.labels.get("group") == group), None)
        assert lag == 6.0
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(15) == 0, exporter.stderr.read() if exporter.stderr else ""
    finally:
        if exporter.poll() is None:
            exporter.kill()
