"""`synfinance process` against a real broker: exactly-once scores, reference features, restarts, the DLQ."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from synfinance.common.dead_letters import COMPONENT, ERROR_CLASS, ERROR_MESSAGE, SOURCE_OFFSET, SOURCE_TOPIC
from synfinance.common.units import HOUR_US
from synfinance.processors.labelled_inputs import HeldInput, LabelledInputs
from synfinance.processors.scoring import FraudModel
from tests.processors.conftest import with_chargebacks
from tests.processors.kafka_support import (
    PARTITIONS,
    create_topics,
    publish,
    read_all,
    read_records,
    start_processor,
    topic_names,
)
from tests.processors.test_engine import assert_features_equal

pytestmark = pytest.mark.integration


def fresh(bootstrap: str) -> tuple[Any, str]:
    run = uuid.uuid4().hex[:8]
    topics = topic_names(f"proc-{run}")
    create_topics(bootstrap, topics)
    return topics, f"processor-{run}"


def two_free_ports() -> int:
    """A port p with p and p + 1 free (`--workers 2` serves worker i on p + i)."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return int(port)


def answers(url: str) -> bool:
    try:
        return bool(urllib.request.urlopen(url, timeout=1).status == 200)
    except OSError:
        return False


def check_scored_once_and_exact(scored: list[dict[str, Any]], dataset: Any) -> dict[str, dict[str, Any]]:
    by_id = {s["transaction_id"]: s for s in scored}
    assert len(scored) == len(by_id) == len(dataset.transactions)  # every transaction, once
    for txn_id, want in dataset.reference.items():
        assert_features_equal(by_id[txn_id]["features"], want, txn_id)
    return by_id


def test_two_workers_score_every_transaction_once_with_the_reference_features(kafka_bootstrap: str,
                                                                              dataset: Any) -> None:
    topics, group = fresh(kafka_bootstrap)
    port = two_free_ports()
    process = start_processor(kafka_bootstrap, topics, group, "--workers", "2", "--stop-when-idle", "4",
                              web_port=port)
    # both workers in the group before anything arrives: the first to join would otherwise score all of it
    # alone (the broker's initial rebalance delay is 0) before the second is assigned its share
    deadline = time.monotonic() + 120
    while not all(answers(f"http://127.0.0.1:{port + worker}/readyz") for worker in (0, 1)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    publish(kafka_bootstrap, topics, dataset)
    poison = Producer({"bootstrap.servers": kafka_bootstrap})
    poison.produce(topics.transactions, b"\x00not avro", b"C-poison", partition=2)
    poison.produce(topics.transactions, None, b"C-tombstone", partition=1)  # a null value
    poison.produce(topics.transactions, dataset.transaction_values[0], None, partition=0)  # a null key
    poison.produce(topics.labels, None, b"C-tombstone", partition=3)
    assert poison.flush(10) == 0
    assert process.wait(240) == 0
    scored = read_all(kafka_bootstrap, topics.scored)
    check_scored_once_and_exact(scored, dataset)
    workers = {s["model_version"].split("/")[1] for s in scored}
    assert workers == {"0", "1"}  # both workers took part
    letters = read_records(kafka_bootstrap, topics.dlq)
    # each poison record once, and the processor (a restart never meets them again: offsets are committed)
    got = sorted((dict(m.headers())[SOURCE_TOPIC].decode(), m.value(), m.key()) for m in letters)
    assert got == sorted([(topics.transactions, b"\x00not avro", b"C-poison"),
                          (topics.transactions, b"", b"C-tombstone"),
                          (topics.transactions, dataset.transaction_values[0], None),
                          (topics.labels, b"", b"C-tombstone")])
    for letter in letters:
        headers = dict(letter.headers())
        assert headers[ERROR_CLASS] == b"CodecError" and headers[COMPONENT] == b"processor"
        assert int(headers[SOURCE_OFFSET]) >= 0
        null = b"null key" if letter.key() is None else b"null value" if letter.value() == b"" else None
        assert null is None or null in headers[ERROR_MESSAGE], headers
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
            process = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "4")
        else:
            process = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "5")
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
    # small steps: the kill lands soon after a third is committed, not after a batch of all of it
    return consumer, sum(1 for m in consumer.consume(500, timeout=0.05) if m.error() is None)


def kill_once_committed(bootstrap: str, topic: str, process: Any, at_least: int, deadline: float
                        ) -> tuple[int, float]:
    """SIGKILL `process` soon after `at_least` records of `topic` are committed (or at `deadline`); the records
    seen by then and the wall time of the kill."""
    consumer, seen = None, 0
    while seen < at_least and time.monotonic() < deadline:
        consumer, n = count_committed(bootstrap, topic, consumer)
        seen += n
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed_at = time.time()
    assert consumer is not None
    consumer.close()
    return seen, killed_at


def test_sigkill_midway_then_restart_loses_duplicates_and_resets_nothing(kafka_bootstrap: str,
                                                                        dataset: Any) -> None:
    topics, group = fresh(kafka_bootstrap)
    publish(kafka_bootstrap, topics, dataset)
    process = start_processor(kafka_bootstrap, topics, group, "--commit-interval", "0.2")
    seen, killed_at = kill_once_committed(kafka_bootstrap, topics.scored, process, len(dataset.transactions) // 3,
                                          time.monotonic() + 180)
    assert len(dataset.transactions) // 3 <= seen < len(dataset.transactions)  # killed midway
    restarted = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "4")
    assert restarted.wait(240) == 0
    scored = read_all(kafka_bootstrap, topics.scored)
    check_scored_once_and_exact(scored, dataset)  # read_committed: the killed transaction is invisible
    after = [s for s in scored if s["processed_at"] / 1e6 > killed_at]
    assert after
    # the model was restored from its checkpoint: nothing after the restart was scored by a blank model
    assert min(int(s["model_version"].rsplit("/", 1)[1]) for s in after) > 0


def held_inputs(bootstrap: str, group: str, txn_ids: list[str]) -> dict[str, HeldInput | None]:
    """The labelled inputs a worker of `group` would restore, for `txn_ids`."""
    records: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in range(PARTITIONS)}
    for message in read_records(bootstrap, f"{group}-labelled-inputs"):
        records[message.partition()].append((message.key(), message.value()))
    stores = [LabelledInputs.restore(records[p]) for p in range(PARTITIONS)]
    return {txn_id: next((h for s in stores if (h := s.find(txn_id)) is not None), None) for txn_id in txn_ids}


def scrape_until_exit(process: Any, port: int) -> dict[str, float]:
    """The last /metrics the process served before it exited."""
    last: dict[str, float] = {}
    while process.poll() is None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            text = ""  # not serving yet, or stopping
        samples = [line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")]
        if samples:
            last = {name: float(value) for name, value in samples}
        time.sleep(0.25)
    return last


def test_a_chargeback_reaches_a_restarted_processor_and_is_learned_from_the_kept_input(kafka_bootstrap: str,
                                                                                        dataset: Any) -> None:
    """Part 1 of the stream holds the revised frauds' first labels (legitimate); the processor learns them
    and stops. Restarted, it receives part 2 as it is produced, with the revisions (three sent twice):
    it learns each from the input it kept across the restart, counts each once, and ends with every
    transaction counted in the AUCs under its true label."""
    revised, revisions = with_chargebacks(dataset, first_hours=16, revision_hours=(24, 40))
    split = revised.transactions[0]["event_time"] + 23 * HOUR_US  # after the revised frauds' first labels
    assert len(revisions) >= 10 and min(r["label_time"] for r in revisions) >= split
    early = [t["event_time"] < split for t in revised.transactions]
    before = [label["label_time"] < split for label in revised.labels]
    twice = [i for i, label in enumerate(revised.labels) if label["revision"] == 1][:3]

    def part(first: bool) -> Any:
        txns = [i for i, e in enumerate(early) if e == first]
        labels = [i for i, b in enumerate(before) if b == first] + ([] if first else twice)
        return replace(revised, transactions=[revised.transactions[i] for i in txns],
                       transaction_values=[revised.transaction_values[i] for i in txns],
                       labels=[revised.labels[i] for i in labels],
                       label_values=[revised.label_values[i] for i in labels])

    topics, group = fresh(kafka_bootstrap)
    publish(kafka_bootstrap, topics, part(True))
    assert start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "4").wait(240) == 0
    ids = [r["transaction_id"] for r in revisions]
    kept = held_inputs(kafka_bootstrap, group, ids)
    assert all(h is not None and (h.is_fraud, h.revision) == (False, 0) for h in kept.values())

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    restarted = start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "4", web_port=port)
    publisher = threading.Thread(target=publish, args=(kafka_bootstrap, topics, part(False)))
    publisher.start()
    metrics = scrape_until_exit(restarted, port)
    publisher.join(60)
    assert restarted.wait(10) == 0
    check_scored_once_and_exact(read_all(kafka_bootstrap, topics.scored), revised)  # risk under the latest labels
    assert metrics['synfin_label_revisions_total{learned="true"}'] == len(revisions)
    assert metrics['synfin_label_revisions_total{learned="false"}'] == 0
    assert metrics["synfin_label_revisions_stale_total"] == len(twice)
    learned = held_inputs(kafka_bootstrap, group, ids)
    assert all(h is not None and (h.is_fraud, h.learned, h.revision) == (True, True, 1) for h in learned.values())
    checkpoints = read_records(kafka_bootstrap, f"{group}-model-checkpoints", partitions=1)
    quality = FraudModel.from_bytes(checkpoints[-1].value()).quality
    truth: dict[str, bool] = {}
    for label in revised.labels:  # in label-time order: the revision last
        truth[label["transaction_id"]] = label["is_fraud"]
    assert quality.positives.sum() == sum(truth.values())
    assert quality.negatives.sum() == len(revised.transactions) - sum(truth.values())


def test_sigterm_while_the_worker_is_still_being_built_exits_at_once(kafka_bootstrap: str, dataset: Any) -> None:
    """The web server answers before the worker has restored its state; a SIGTERM then used to find no
    worker to stop, which went on running until a SIGKILL 60 s later."""
    topics, group = fresh(kafka_bootstrap)
    publish(kafka_bootstrap, topics, dataset)
    port = two_free_ports()
    process = start_processor(kafka_bootstrap, topics, group, web_port=port)
    try:
        deadline = time.monotonic() + 60
        while not answers(f"http://127.0.0.1:{port}/healthz"):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
