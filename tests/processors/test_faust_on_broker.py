"""Faust's Kafka client (aiokafka) against the session's broker, Kafka 4.x by default: a worker joins a
consumer group, reads every record of both partitions in order and commits its offsets. The processor
itself keeps Faust off the event path, but its host app and the bench's Faust baseline need this to work."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

RECORDS = 200
ROOT = Path(__file__).resolve().parents[2]


def test_a_faust_worker_reads_and_commits_every_record(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    topic, group = f"test.faust.{run}", f"faust-{run}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "compression.type": "none"})
    for i in range(RECORDS):
        producer.produce(topic, value=str(i).encode(), partition=i % 2)
    assert producer.flush(30) == 0

    worker = subprocess.run([sys.executable, "-m", "tests.processors.faust_counter", kafka_bootstrap, topic,
                             group, str(RECORDS), str(tmp_path / "events")], cwd=ROOT, capture_output=True,
                            text=True, timeout=180)
    assert worker.returncode == 0, worker.stderr[-3000:]
    events = [tuple(int(field) for field in line.split()) for line in
              (tmp_path / "events").read_text().splitlines()]
    for partition in (0, 1):
        assert [(o, v) for p, o, v in events if p == partition] == [
            (offset, 2 * offset + partition) for offset in range(RECORDS // 2)]
    assert len(events) == RECORDS

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=30)
    finally:
        consumer.close()
    assert [tp.offset for tp in committed] == [RECORDS // 2, RECORDS // 2]
