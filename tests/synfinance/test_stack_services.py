"""The stack's services are real: a Kafka round trip and a PostgreSQL COPY round trip."""

from __future__ import annotations

import io
import uuid
from collections import defaultdict

import psycopg2
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

MESSAGES = 10_000
KEYS = 37


def test_kafka_round_trip_keeps_count_and_per_key_order(kafka_bootstrap: str) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for i in range(MESSAGES):
        producer.produce(topic, key=f"k{i % KEYS}", value=str(i).encode(), on_delivery=delivered)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    by_key: dict[str, list[int]] = defaultdict(list)
    partitions_seen: set[int] = set()
    received = 0
    idle_polls = 0
    try:
        while received < MESSAGES and idle_polls < 60:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            idle_polls = 0 if batch else idle_polls + 1
            for message in batch:
                assert message.error() is None
                by_key[message.key().decode()].append(int(message.value()))
                partitions_seen.add(message.partition())
                received += 1
        # nothing beyond the 10,000 arrives
        extra = consumer.consume(num_messages=10, timeout=2.0)
    finally:
        consumer.close()

    assert received == MESSAGES
    assert extra == []
    assert len(partitions_seen) > 1
    assert len(by_key) == KEYS
    for key, values in by_key.items():
        expected = [i for i in range(MESSAGES) if f"k{i % KEYS}" == key]
        assert values == expected, f"order broken for {key}"


def test_postgres_copy_round_trip(database_url: str) -> None:
    rows = 10_000
    connection = psycopg2.connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE roundtrip (id bigint PRIMARY KEY, name text, amount numeric(12,2))")
            buffer = io.StringIO("".join(f"{i}\tname-{i}\t{i * 1.25:.2f}\n" for i in range(rows)))
            cursor.copy_expert("COPY roundtrip (id, name, amount) FROM STDIN", buffer)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT id), sum(amount) FROM roundtrip")
            count, distinct, total = cursor.fetchone()
    finally:
        connection.close()
    assert (count, distinct) == (rows, rows)
    assert float(total) == pytest.approx(sum(i * 1.25 for i in range(rows)))
