"""`synfinance process` against a real broker: exactly-once scores, reference features, restarts, the DLQ."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from sinks.dlq import ERROR_CLASS, SOURCE_OFFSET, SOURCE_TOPIC
from tests.processors.kafka_support import PARTITIONS, create_topics, publish, read_all, start_processor, topic_names
from tests.processors.test_engine import assert_features_equal

pytestmark = pytest.mark.integration


def fresh(bootstrap: str) -> tuple[Any, str]:
    run = uuid.uuid4().hex[:8]
    topics = topic_names(f"proc-{run}")
    create_topics(bootstrap, topics)
    return topics, f"processor-{run}"


def check_scored_once_and_exact(scored: list[dict[str, Any]], dataset: Any) -> dict[str, dict[str, Any]]:
    by_id = {s["transaction_id"]: s for s in scored}
    assert len(scored) == len(by_id) == len(dataset.transactions)  # every transaction, once
    for txn_id, want in dataset.reference.items():
        assert_features_equal(by_id[txn_id]["features"], want, txn_id)
    return by_id


def test_two_workers_score_every_transaction_once_with_the_reference_features(kafka_bootstrap: str,
                                                                              dataset: Any) -> None:
    topics, group = fresh(kafka_bootstrap)
    publish(kafka_bootstrap, topics, dataset)
    poison = Producer({"bootstrap.servers": kafka_bootstrap})
    poison.produce(topics.transactions, b"\x00not avro", b"C-poison", partition=2)
    assert poison.flush(10) == 0
    process = start_processor(kafka_bootstrap, topics, group, "--workers", "2", "--stop-when-idle", "6")
    assert process.wait(240) == 0
    scored = read_all(kafka_bootstrap, topics.scored)
    check_scored_once_and_exact(scored, dataset)
    workers = {s["model_version"].split("/")[1] for s in scored}
    assert workers == {"0", "1"}  # both workers took part
    dead = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"dlq-{group}"})
    dead.assign([TopicPartition(topics.dlq, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    letters = [m for m in dead.consume(100, timeout=5) if m.error() is None]
    dead.close()
    assert [m.value() for m in letters] == [b"\x00not avro"]
    headers = dict(letters[0].headers())
    assert headers[ERROR_CLASS] == b"CodecError"
    assert headers[SOURCE_TOPIC] == topics.transactions.encode()
    assert int(headers[SOURCE_OFFSET]) >= 0
    alerts = read_all(kafka_bootstrap, topics.alerts, idle_s=1.0)
    warm = {s["transaction_id"] for s in scored
            if s["score"] >= 0.5 and int(s["model_version"].rsplit("/", 1)[1]) >= 1_000}  # Engine.alert_warmup
    assert {a["transaction_id"] for a in alerts} == warm


def test_a_slower_rate_gives_identical_features(kafka_bootstrap: str, dataset: Any) -> None:
    """Flat-out backlog vs. produced at 3,000 events/s while the worker runs: the same feature values."""
    runs = []
    for rate in (None, 3_000.0):
        topics, group = fresh(kafka_bootstrap)
        if rate is None:
            publish(kafka_bootstrap, topics, dataset)
            process = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "6")
        else:
            process = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "15")
            publisher = threading.Thread(target=publish, args=(kafka_bootstrap, topics, dataset, rate))
            publisher.start()
            publisher.join(120)
        assert process.wait(240) == 0
        scored = read_all(kafka_bootstrap, topics.scored)
        runs.append({s["transaction_id"]: s["features"] for s in check_scored_once_and_exact(scored, dataset).values()})
    assert runs[0] == runs[1]


def count_committed(bootstrap: str, topic: str, consumer: Consumer | None = None) -> tuple[Consumer, int]:
    if consumer is None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4()}",
                             "isolation.level": "read_committed", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer, sum(1 for m in consumer.consume(10_000, timeout=0.5) if m.error() is None)


def test_sigkill_midway_then_restart_loses_duplicates_and_resets_nothing(kafka_bootstrap: str,
                                                                        dataset: Any) -> None:
    topics, group = fresh(kafka_bootstrap)
    publish(kafka_bootstrap, topics, dataset)
    process = start_processor(kafka_bootstrap, topics, group, "--commit-interval", "0.2")
    consumer, seen = None, 0
    deadline = time.monotonic() + 180
    while seen < len(dataset.transactions) // 3 and time.monotonic() < deadline:
        consumer, n = count_committed(kafka_bootstrap, topics.scored, consumer)
        seen += n
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed_at = time.time()
    assert consumer is not None
    consumer.close()
    assert len(dataset.transactions) // 3 <= seen < len(dataset.transactions)  # killed midway
    restarted = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "6")
    assert restarted.wait(240) == 0
    scored = read_all(kafka_bootstrap, topics.scored)
    check_scored_once_and_exact(scored, dataset)  # read_committed: the killed transaction is invisible
    after = [s for s in scored if s["processed_at"] / 1e6 > killed_at]
    assert after
    # the model was restored from its checkpoint: nothing after the restart was scored by a blank model
    assert min(int(s["model_version"].rsplit("/", 1)[1]) for s in after) > 0
