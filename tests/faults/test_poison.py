"""Poison records on every input topic (issue 19): the processor and the sink each dead-letter every record
they cannot use once, with their component's header, count it, and go on; valid records all arrive; a restart
meets none of them again.

One small stream (`synfinance produce`), then on each of the customers, transactions and labels topics: a
null value (a tombstone), a null key, garbage bytes, and a record of the right shape under a fingerprint no
schema has. The processor and the sink run as the user runs them (`synfinance process` / `sink`, their own
processes and groups) until idle; the topics are read back with plain clients.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition

from synfinance.common.dead_letters import COMPONENT, ERROR_CLASS, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
from synfinance.common.settings import TopicNames
from synfinance.processors.kafka_io import read_to_end
from synfinance.sinks import database
from tests.faults.support import cli, stop

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS, CUSTOMERS = 3_000, 300
POISONED = ("customers", "transactions", "labels")


def read(bootstrap: str, topic: str) -> list[Any]:
    return list(read_to_end({"bootstrap.servers": bootstrap}, [TopicPartition(topic, p) for p in range(2)]))


def count(url: str, schema: str, table: str) -> int:
    connection = database.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {schema}.{table}")
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


def run(env: dict[str, str], log: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env=env, capture_output=True, text=True,
                          timeout=240)
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]


def poison(bootstrap: str, topics: TopicNames, valid: dict[str, bytes]) -> dict[tuple[str, int, int], str]:
    """Four poison records on each poisoned topic (three on the compacted customers topic); (topic,
    partition, offset) -> what it is."""
    sent: dict[tuple[str, int, int], str] = {}
    producer = Producer({"bootstrap.servers": bootstrap})

    def delivered(kind: str) -> Any:
        def report(error: Any, message: Any) -> None:
            assert error is None, error
            sent[(message.topic(), message.partition(), message.offset())] = kind
        return report

    for name in POISONED:
        topic, value = getattr(topics, name), valid[name]
        for kind, key, body in (("null value", b"C-tombstone", None), ("null key", None, value),
                                ("garbage", b"C-garbage", b"\x00not avro at all"),
                                ("unknown fingerprint", b"C-stranger", b"\xc3\x01" + b"\x5a" * 8 + value[10:])):
            if key is None and name == "customers":
                continue  # a compacted topic: the broker itself refuses a record without a key
            producer.produce(topic, body, key, partition=1, on_delivery=delivered(f"{name}: {kind}"))
    assert producer.flush(30) == 0
    return sent


def test_every_poison_record_is_dead_lettered_once_per_component_and_nothing_else_is_lost(
        tmp_path: Path, kafka_bootstrap: str, database_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    topics = TopicNames(**{kind: f"test.poison.{tag}.{kind}" for kind in TopicNames().model_dump()})
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
           "SYNFIN_PARTITIONS": "2", **{f"SYNFIN_TOPICS__{k.upper()}": v for k, v in topics.model_dump().items()}}
    schema = f"poison_{tag}"
    run(env, tmp_path / "init.log", "db", "init", "--schema", schema)
    run(env, tmp_path / "produce.log", "produce", "--events", str(EVENTS), "--profile", "max", "--customers",
        str(CUSTOMERS), "--merchants", "50", "--seed", "9", "--label-delay", "0")
    valid = {name: read(kafka_bootstrap, getattr(topics, name))[0].value() for name in POISONED}
    labels = sum(1 for _ in read(kafka_bootstrap, topics.labels))
    sent = poison(kafka_bootstrap, topics, valid)
    assert len(sent) == 4 * len(POISONED) - 1

    def both(round_: int) -> None:
        processor = cli(env, tmp_path / f"process-{round_}.log", "process", "--group", f"poison-{tag}", "--no-web",
                        "--stop-when-idle", "3")
        sink = cli(env, tmp_path / f"sink-{round_}.log", "sink", "--schema", schema, "--group", f"poison-sink-{tag}",
                   "--stop-when-idle", "4")
        try:
            assert processor.wait(240) == 0, (tmp_path / f"process-{round_}.log").read_text()[-3000:]
            assert sink.wait(240) == 0, (tmp_path / f"sink-{round_}.log").read_text()[-3000:]
        finally:
            stop(processor, sink)

    both(1)
    letters = read(kafka_bootstrap, topics.dlq)
    where = Counter((dict(m.headers())[COMPONENT].decode(), dict(m.headers())[SOURCE_TOPIC].decode(),
                     int(dict(m.headers())[SOURCE_PARTITION]), int(dict(m.headers())[SOURCE_OFFSET])) for m in letters)
    processor_inputs = {topics.transactions, topics.labels}  # customers: read for homes, see below
    expected = Counter({("sink", *source): 1 for source in sent})
    expected.update({("processor", *source): 1 for source in sent if source[0] in processor_inputs})
    found_processor_customers = {key: n for key, n in where.items()
                                 if key[0] == "processor" and key[1] == topics.customers}
    assert Counter({k: n for k, n in where.items() if k not in found_processor_customers}) == expected, sent
    assert all(n == 1 for n in found_processor_customers.values())  # the replica's homes: once, if at all
    for letter in letters:
        headers = dict(letter.headers())
        assert headers[ERROR_CLASS] in (b"CodecError", b"InvalidRecord", b"SchemaMismatch"), headers
    # every valid record went on: scored once by the processor, stored once by the sink
    scored = read(kafka_bootstrap, topics.scored)
    assert len(scored) == len({m.key() + m.value()[:64] for m in scored}) >= EVENTS
    assert count(database_url, schema, "transactions") == EVENTS
    assert count(database_url, schema, "labels") == labels
    assert count(database_url, schema, "scored_transactions") == EVENTS
    assert count(database_url, schema, "customers") == CUSTOMERS
    # a restart of both: their committed offsets are past the poison, so nothing is dead-lettered again
    both(2)
    assert len(read(kafka_bootstrap, topics.dlq)) == len(letters)
    assert count(database_url, schema, "scored_transactions") == EVENTS
