"""Shared pieces of the sink tests: one generated stream, and a rig per test (own topics, own database
schema, own consumer group) that puts records on Kafka with a plain producer and runs the real
`synfinance sink` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import encode
from synfinance.stack.processes import free_port
from tests.sinks.db_support import scratch_schema, select

EVENTS = 50_000
PARTITIONS = 3
LOGICAL_TOPICS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Records:
    """Kafka records of one topic: key, value and timestamp (ms) of each."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def slice(self, lo: int, hi: int) -> Records:
        return Records(self.keys[lo:hi], self.values[lo:hi], self.timestamps[lo:hi])


@dataclass
class Stream:
    """The generated stream every sink test puts on its topics."""

    transactions: Records
    labels: Records
    customers: Records
    merchants: Records


@pytest.fixture(scope="session")
def stream() -> Stream:
    """50,000 transactions and their labels (seed 7), plus 2,000 customers and 400 merchants."""
    source = TransactionStream(StreamConfig(seed=7, customers=2_000, merchants=400))
    world = source.world
    encoder = RecordEncoder(world)
    batch = next(source.batches(EVENTS))
    ids = [world.customers.ids[k].encode() for k in batch.customer.tolist()]
    event_ms = (batch.time_us // 1000).tolist()
    label_ms = ((batch.time_us + batch.label_delay_us) // 1000).tolist()
    start_us = int(batch.time_us[0])
    customers = Records()
    for k in range(len(world.customers.ids)):
        record = world.customers.record(k, start_us)
        customers.keys.append(record["customer_id"].encode())
        customers.values.append(encode("customer", record))
        customers.timestamps.append(start_us // 1000)
    merchants = Records()
    for j in range(len(world.merchants.ids)):
        record = world.merchants.record(j, start_us)
        merchants.keys.append(record["merchant_id"].encode())
        merchants.values.append(encode("merchant", record))
        merchants.timestamps.append(start_us // 1000)
    return Stream(Records(ids, encoder.encode_transactions(batch), event_ms),
                  Records(list(ids), encoder.encode_labels(batch), label_ms), customers, merchants)


@dataclass
class SinkRig:
    """One test's isolated world: topics, a database schema and a consumer group of its own."""

    bootstrap: str
    database_url: str
    tag: str
    schema: str = ""
    group: str = ""
    topics: dict[str, str] = field(default_factory=dict)  # logical name -> topic
    metrics_port: int = 0

    def env(self) -> dict[str, str]:
        env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": self.bootstrap, "SYNFIN_DATABASE_URL": self.database_url}
        env.update({f"SYNFIN_TOPICS__{name.upper()}": topic for name, topic in self.topics.items()})
        return env

    def produce(self, logical: str, records: Records,
                headers: Sequence[list[tuple[str, bytes]] | None] | None = None) -> list[tuple[int, int]]:
        """Produce ``records`` in order; returns each one's (partition, offset)."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 20, "compression.type": "lz4"})
        failures: list[str] = []
        positions: list[tuple[int, int]] = [(-1, -1)] * len(records)

        def delivered_at(i: int) -> Callable[[object, Any], None]:
            def delivered(error: object, message: Any) -> None:
                if error is not None:
                    failures.append(str(error))
                else:
                    positions[i] = (message.partition(), message.offset())
            return delivered

        for i, (key, value, ts) in enumerate(zip(records.keys, records.values, records.timestamps, strict=True)):
            extra = {"headers": headers[i]} if headers is not None and headers[i] is not None else {}
            while True:
                try:
                    producer.produce(self.topics[logical], key=key, value=value, timestamp=ts,
                                     on_delivery=delivered_at(i), **extra)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 5000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0
        assert failures == []
        return positions

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "synfinance.cli", *args]

    def start_sink(self, *args: str) -> subprocess.Popen[str]:
        argv = self.command("sink", "--group", self.group, "--schema", self.schema,
                            "--metrics-port", str(self.metrics_port), *args)
        return subprocess.Popen(argv, env=self.env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def run_sink(self, *args: str, timeout: float = 120.0) -> str:
        """Run the sink until it has been idle for 2 s; returns its log."""
        process = self.start_sink("--stop-when-idle", "2", *args)
        try:
            out, _ = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, out
        return out

    def query(self, sql: str) -> list[tuple[object, ...]]:
        return select(self.database_url, self.schema, sql)

    def reset_offsets(self, logical: Sequence[str]) -> None:
        """Move the group back to offset 0 on these topics (what kafka-consumer-groups --reset-offsets does)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        request = ConsumerGroupTopicPartitions(
            self.group, [TopicPartition(self.topics[name], p, 0) for name in logical for p in range(PARTITIONS)])
        admin.alter_consumer_group_offsets([request])[self.group].result(30)

    def metric(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of ``name`` with these labels the running sink exports; None if it
        cannot be scraped or has no such sample."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        values = [sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                  if sample.name == name and labels.items() <= sample.labels.items()]
        return sum(values) if values else None

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(interval)
        return condition()

    def dead_letters(self) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
        """(key, value, headers) of every record on the dead-letter topic, partition by partition."""
        topic = self.topics["dlq"]
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"read-{topic}",
                             "enable.auto.commit": False})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            out: list[tuple[bytes, bytes, dict[str, bytes]]] = []
            deadline = time.monotonic() + 30
            while len(out) < sum(ends.values()):
                assert time.monotonic() < deadline, "dead-letter topic ended early"
                for message in consumer.consume(500, timeout=0.2):
                    assert message.error() is None
                    out.append((message.key(), message.value(), dict(message.headers() or [])))
            return out
        finally:
            consumer.close()

    def counts(self, table: str) -> tuple[int, int]:
        """(rows, distinct primary keys) of a table."""
        key = "alert_id" if table == "alerts" else ("customer_id" if table == "customers" else
                                                     "merchant_id" if table == "merchants" else "transaction_id")
        ((rows, distinct),) = self.query(f"SELECT count(*), count(DISTINCT {key}) FROM {table}")
        return int(rows), int(distinct)


@pytest.fixture
def rig(kafka_bootstrap: str, database_url: str) -> Iterator[SinkRig]:
    tag = uuid.uuid4().hex[:8]
    rig = SinkRig(kafka_bootstrap, database_url, tag, schema=f"sinktest_{tag}", group=f"sink-{tag}",
                  topics={name: f"test.{name}.{tag}" for name in LOGICAL_TOPICS}, metrics_port=free_port())
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    # records carry their (simulated, months old) event time: time-based retention would delete them
    futures = admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1,
                                            config={"retention.ms": "-1"}) for t in rig.topics.values()])
    for future in futures.values():
        future.result(30)
    with scratch_schema(database_url, rig.schema):
        yield rig
    for future in admin.delete_topics(list(rig.topics.values())).values():
        future.result(30)
