"""The `synfin_stream` fixture: its ground truth is what a plain consumer reads from its topics (issue 15),
and with `registry=True` what confluent-kafka's own AvroDeserializer reads through the registry (issue 16)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer

from synfinance.schemas.codec import decode
from synfinance.seeded_stream import SeededStream, StreamFactory, final_labels

pytestmark = pytest.mark.integration


def read_all(stream: SeededStream, topic: str) -> list[dict[str, Any]]:
    consumer = Consumer(stream.consumer_config(f"test-{uuid.uuid4().hex}"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[dict[str, Any]] = []
        for _ in range(120):
            if len(records) >= sum(ends.values()):
                break
            for message in consumer.consume(10_000, timeout=1.0):
                assert message.error() is None, message.error()
                records.append(decode(message.value()))
        return records
    finally:
        consumer.close()


def test_ground_truth_equals_what_a_consumer_reads(synfin_stream: StreamFactory) -> None:
    stream = synfin_stream(seed=7, events=5000)
    assert synfin_stream(seed=7, events=5000) is stream  # identical calls share their topics
    transactions = read_all(stream, stream.topics.transactions)
    labels = read_all(stream, stream.topics.labels)
    assert len(transactions) == len({t["transaction_id"] for t in transactions}) == 5000
    assert stream.expected == {"customers": 10_000, "merchants": 2_000, "transactions": 5000,
                               "labels": len(labels)}
    assert len(labels) > 5000  # chargebacks revise some first labels
    key = lambda label: repr(sorted(label.items()))  # noqa: E731 - a label as a hashable value
    assert Counter(map(key, labels)) == Counter(map(key, stream.label_records))
    assert set(stream.labels) == {t["transaction_id"] for t in transactions}
    final = final_labels(labels)
    assert final == stream.labels
    assert 0 < sum(label["is_fraud"] for label in final.values()) < 5000
    assert stream.env()["SYNFIN_TOPICS__TRANSACTIONS"] == stream.topics.transactions


def test_another_seed_gets_other_topics_and_other_records(synfin_stream: StreamFactory) -> None:
    first = synfin_stream(seed=7, events=5000)
    other = synfin_stream(seed=8, events=500, customers=300, merchants=50)
    assert other.topics.transactions != first.topics.transactions
    assert other.expected["transactions"] == len(read_all(other, other.topics.transactions)) == 500
    assert not set(other.labels) & set(first.labels)
    with pytest.raises(ValueError, match="--fraud-rate"):
        synfin_stream(seed=7, events=10, fraud_rate=0.9)


def read_with_avro_deserializer(config: dict[str, Any], registry: dict[str, str], topic: str) -> list[dict[str, Any]]:
    """Every value of `topic` as a standard consumer reads it: confluent-kafka's DeserializingConsumer and
    AvroDeserializer, given the stream's plain consumer config and registry config (dicts; nothing of ours
    runs here). Timestamps come back as int microseconds, as the ground truth has them."""
    epoch, micro = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
    consumer = DeserializingConsumer({**config, "key.deserializer": StringDeserializer("utf_8"),
                                      "value.deserializer": AvroDeserializer(SchemaRegistryClient(registry))})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        values: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while len(values) < sum(ends.values()) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                values.append({k: (v - epoch) // micro if isinstance(v, datetime) else v
                               for k, v in message.value().items()})
        return values
    finally:
        consumer.close()


def test_a_registry_stream_is_read_by_a_standard_avro_consumer(synfin_stream: StreamFactory) -> None:
    framed = synfin_stream(seed=7, events=5000, registry=True)
    assert synfin_stream(seed=7, events=5000, registry=True) is framed  # identical calls share their topics
    plain = synfin_stream(seed=7, events=5000)
    assert plain is not framed and plain.topics.transactions != framed.topics.transactions
    assert plain.schema_registry_url is None and framed.schema_registry_url is not None
    assert framed.labels == plain.labels  # the same seed: the same ground truth, framed differently
    assert framed.env()["SYNFIN_SCHEMA_REGISTRY_URL"] == framed.schema_registry_url
    with pytest.raises(ValueError, match="registry=True"):
        plain.schema_registry_config()

    read = {kind: read_with_avro_deserializer(framed.consumer_config(), framed.schema_registry_config(),
                                              getattr(framed.topics, kind))
            for kind in ("customers", "merchants", "transactions", "labels")}
    assert {kind: len(values) for kind, values in read.items()} == framed.expected
    assert len({t["transaction_id"] for t in read["transactions"]}) == 5000
    assert set(framed.labels) == {t["transaction_id"] for t in read["transactions"]}
    key = lambda label: repr(sorted(label.items()))  # noqa: E731 - a label as a hashable value
    assert Counter(map(key, read["labels"])) == Counter(map(key, framed.label_records))
    assert final_labels(read["labels"]) == framed.labels
    assert len({c["customer_id"] for c in read["customers"]}) == 10_000
