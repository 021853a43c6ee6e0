"""The `synfin_stream` fixture: its ground truth is what a plain consumer reads from its topics (issue 15)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

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
