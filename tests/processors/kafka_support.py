"""Putting a dataset on a real broker the way the producer does, and reading the processor's output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.assign import READ_TO_END, assign_promptly
from synfinance.common.settings import TopicNames
from synfinance.schemas.codec import decode

PARTITIONS = 6


def topic_names(prefix: str) -> TopicNames:
    return TopicNames(**{name: f"{prefix}.{name}" for name in TopicNames.model_fields})


def create_topics(bootstrap: str, topics: TopicNames) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # event times are simulated (2025): with time retention the broker would delete the records at its
    # next retention check, as their timestamps are long past
    kept = {"retention.ms": "-1"}
    compacted = {"cleanup.policy": "compact"}
    new = [NewTopic(name, PARTITIONS, 1, config=compacted if field in ("customers", "merchants", "runs") else kept)
           for field, name in topics.model_dump().items()]
    for future in admin.create_topics(new).values():
        future.result(30)


Headers = list[tuple[str, bytes]] | None


def publish(bootstrap: str, topics: TopicNames, dataset: Any, rate: float | None = None,
            headers: dict[str, Headers] | None = None) -> None:
    """Customers first, then transactions in event-time order with each label sent once the stream's
    clock reaches its label time (as producers/producer.py does); `rate` events/s, or flat out.
    `headers`: by customer or transaction id, the headers of its customer record, transaction and labels."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5,
                         "enable.idempotence": True})
    headers = headers or {}
    for customer_id, value in dataset.customer_values:
        producer.produce(topics.customers, value, customer_id.encode(), timestamp=dataset.config.start_us // 1000,
                         headers=headers.get(customer_id))
    producer.flush(30)
    labels = sorted(zip(dataset.labels, dataset.label_values, strict=True),
                    key=lambda lv: (lv[0]["label_time"], lv[0]["transaction_id"]))
    next_label, started = 0, time.monotonic()
    for i, (record, value) in enumerate(zip(dataset.transactions, dataset.transaction_values, strict=True)):
        producer.produce(topics.transactions, value, record["customer_id"].encode(),
                         timestamp=record["event_time"] // 1000, headers=headers.get(record["transaction_id"]))
        while next_label < len(labels) and labels[next_label][0]["label_time"] <= record["event_time"]:
            label, label_value = labels[next_label]
            producer.produce(topics.labels, label_value, label["customer_id"].encode(),
                             timestamp=label["label_time"] // 1000, headers=headers.get(label["transaction_id"]))
            next_label += 1
        producer.poll(0)
        if rate is not None and i % 100 == 99:
            time.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
    for label, label_value in labels[next_label:]:
        producer.produce(topics.labels, label_value, label["customer_id"].encode(),
                         timestamp=label["label_time"] // 1000, headers=headers.get(label["transaction_id"]))
    assert producer.flush(60) == 0


def read_all(bootstrap: str, topic: str, idle_s: float = 0.5) -> list[dict[str, Any]]:
    """Every committed record of `topic`, decoded (its writers have finished: at the end of every partition,
    `idle_s` more without a record)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "isolation.level": "read_committed", **READ_TO_END, "enable.auto.commit": False})
    assign_promptly(consumer, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out, at_end, last = [], set(), time.monotonic()
    while len(at_end) < PARTITIONS or time.monotonic() - last < idle_s:
        for message in consumer.consume(10_000, timeout=0.5):
            if message.error() is None:
                out.append(decode(message.value()))
                last = time.monotonic()
            elif message.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition())
        if len(at_end) == PARTITIONS and time.monotonic() - last >= idle_s:
            break
    consumer.close()
    return out


def start_processor(bootstrap: str, topics: TopicNames, group: str, *args: str,
                    web_port: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": bootstrap}
    env.update({f"SYNFIN_TOPICS__{field.upper()}": name for field, name in topics.model_dump().items()})
    web = ["--no-web"] if web_port is None else ["--web-port", str(web_port)]
    return subprocess.Popen([sys.executable, "-m", "synfinance.cli", "process", "--group", group, *web, *args],
                            env=env)


def read_records(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> list[Any]:
    """Every committed record of `topic` (raw confluent-kafka messages), from the beginning to the end."""
    from synfinance.processors.kafka_io import read_to_end

    return list(read_to_end({"bootstrap.servers": bootstrap}, [TopicPartition(topic, p) for p in range(partitions)]))
