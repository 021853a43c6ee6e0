"""Confluent wire format against a real registry (Apicurio) and a real broker (issue 16).

`produce` with SYNFIN_SCHEMA_REGISTRY_URL, then `process` and `sink`, each a subprocess; every topic is
read back with confluent-kafka's own `DeserializingConsumer` + `AvroDeserializer` (nothing of ours), and
the sink's tables must hold exactly what was produced. `schema check` accepts an additive change and
refuses a breaking one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer

from synfinance.common.registry import SchemaRegistry, value_subject
from tests.sinks.db_support import scratch_schema, select

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KINDS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq", "runs")
EVENTS = 20_000


def synfinance(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def read_plainly(bootstrap: str, registry_url: str, topic: str) -> list[dict[str, Any]]:
    """Every committed value of `topic`, decoded by confluent-kafka's AvroDeserializer alone."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    consumer = DeserializingConsumer({"bootstrap.servers": bootstrap, "group.id": f"plain-{uuid.uuid4().hex}",
                                      "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                                      "key.deserializer": StringDeserializer("utf_8"),
                                      "value.deserializer": deserializer})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        values: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            positions = consumer.position([TopicPartition(topic, p) for p in partitions])
            if all(tp.offset >= ends[tp.partition] for tp in positions if ends[tp.partition]):
                break
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                values.append(message.value())
        return values
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, database_url: str, schema_registry_url: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
           "SYNFIN_SCHEMA_REGISTRY_URL": schema_registry_url,
           **{f"SYNFIN_TOPICS__{kind.upper()}": f"test.registry.{tag}.{kind}" for kind in KINDS}}
    produced = synfinance(env, "produce", "--quiet", "--events", str(EVENTS), "--profile", "max",
                          "--customers", "2000", "--merchants", "300", "--seed", "5")
    assert produced.returncode == 0, produced.stderr
    processed = synfinance(env, "process", "--no-web", "--group", f"registry-{tag}", "--stop-when-idle", "8")
    assert processed.returncode == 0, processed.stderr[-2000:]
    return {"env": env, "tag": tag, "topic": lambda kind: f"test.registry.{tag}.{kind}"}


def test_a_plain_avro_deserializer_reads_every_topic(run: dict[str, Any], kafka_bootstrap: str,
                                                     schema_registry_url: str) -> None:
    read = {kind: read_plainly(kafka_bootstrap, schema_registry_url, run["topic"](kind))
            for kind in ("customers", "merchants", "transactions", "labels", "scored", "alerts", "runs")}
    assert len(read["customers"]) == 2000 and len(read["merchants"]) == 300
    # the run's record names the registry's id of each topic's schema, the one its values are framed with
    (info,) = read["runs"]
    registry = SchemaRegistryClient({"url": schema_registry_url})
    assert info["seed"] == 5 and info["header_set"] == "full" and len(info["topics"]) == 4
    for topic in info["topics"]:
        latest = registry.get_latest_version(f"{topic['topic']}-value")
        assert topic["schema_id"] == latest.schema_id, topic
    assert len(read["transactions"]) == len({t["transaction_id"] for t in read["transactions"]}) == EVENTS
    assert len({label["transaction_id"] for label in read["labels"] if label["revision"] == 0}) == EVENTS
    assert len(read["labels"]) > EVENTS
    assert sorted(s["transaction_id"] for s in read["scored"]) == sorted(t["transaction_id"]
                                                                        for t in read["transactions"])
    assert 0 < len(read["alerts"]) < EVENTS
    # every refund names a purchase of its customer that the topic holds
    by_id = {t["transaction_id"]: t for t in read["transactions"]}
    refunds = [t for t in read["transactions"] if t["transaction_type"] == "REFUND"]
    assert len(refunds) > 20 and all(by_id[t["original_transaction_id"]]["customer_id"] == t["customer_id"]
                                     for t in refunds)
    assert all(t["original_transaction_id"] is None for t in read["transactions"] if t["transaction_type"] != "REFUND")
    assert all(0.0 <= s["score"] <= 1.0 for s in read["scored"])
    run["read"] = {kind: len(values) for kind, values in read.items()}


def test_the_sink_persists_the_registry_framed_run_exactly(run: dict[str, Any], database_url: str,
                                                           kafka_bootstrap: str, schema_registry_url: str) -> None:
    schema = f"registry_{run['tag']}"
    with scratch_schema(database_url, schema):
        sunk = synfinance(run["env"], "sink", "--group", f"sink-{run['tag']}", "--schema", schema,
                          "--stop-when-idle", "5")
        assert sunk.returncode == 0, sunk.stderr[-2000:]
        counts = {table: select(database_url, schema, f"select count(*) from {table}")[0][0]
                  for table in ("customers", "merchants", "transactions", "labels", "scored_transactions",
                                "alerts")}
        # refunds, the ones naming a purchase, and those whose purchase is in the table at the same merchant
        links = select(database_url, schema,
                       "select count(*), count(r.original_transaction_id), count(p.transaction_id) "
                       "from transactions r left join transactions p on p.transaction_id = r.original_transaction_id "
                       "and p.merchant_id = r.merchant_id where r.transaction_type = 'REFUND'")[0]
        named = select(database_url, schema, "select count(*) from transactions_labelled "
                                             "where original_transaction_id is not null")[0][0]
    alerts = len(read_plainly(kafka_bootstrap, schema_registry_url, run["topic"]("alerts")))
    labels = len(read_plainly(kafka_bootstrap, schema_registry_url, run["topic"]("labels")))
    assert counts == {"customers": 2000, "merchants": 300, "transactions": EVENTS, "labels": labels,
                      "scored_transactions": EVENTS, "alerts": alerts}
    assert links[0] > 20 and tuple(links) == (links[0],) * 3 and named == links[0]


def test_schema_check_accepts_an_additive_change_and_refuses_a_breaking_one(run: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    schema = json.loads((ROOT / "schemas" / "transaction.avsc").read_text())
    additive = {**schema, "fields": [*schema["fields"], {"name": "acquirer_reference",
                                                          "type": ["null", "string"], "default": None}]}
    breaking = {**schema, "fields": [*schema["fields"], {"name": "risk_tier", "type": "string"}]}
    (tmp_path / "additive.avsc").write_text(json.dumps(additive))
    (tmp_path / "breaking.avsc").write_text(json.dumps(breaking))
    ok = synfinance(run["env"], "schema", "check", str(tmp_path / "additive.avsc"))
    assert ok.returncode == 0 and "compatible with the latest" in ok.stdout, ok.stdout + ok.stderr
    refused = synfinance(run["env"], "schema", "check", str(tmp_path / "breaking.avsc"))
    assert refused.returncode == 1 and "NOT compatible" in refused.stdout, refused.stdout + refused.stderr


def test_schema_show_names_the_registered_subject_and_says_when_no_topic_of_ours_carries_one(
        run: dict[str, Any], tmp_path: Path) -> None:
    shown = synfinance(run["env"], "schema", "show", "transaction")
    assert shown.returncode == 0 and "-value: id " in shown.stdout, shown.stdout + shown.stderr
    decision = synfinance(run["env"], "schema", "show", "decision")  # an engine's own topic carries decisions
    assert decision.returncode == 0 and "no topic of ours carries it" in decision.stdout, decision.stderr
    (tmp_path / "decision.avsc").write_text((ROOT / "schemas" / "decision.avsc").read_text())
    refused = synfinance(run["env"], "schema", "check", str(tmp_path / "decision.avsc"))
    assert refused.returncode == 2 and "name the subject with --topic" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_the_transaction_schema_may_follow_the_one_before_original_transaction_id(run: dict[str, Any],
                                                                                    schema_registry_url: str) -> None:
    """A registry holding the Transaction schema as it was before refunds named their purchase accepts ours
    (BACKWARD: the field is appended, nullable, default null)."""
    schema = json.loads((ROOT / "schemas" / "transaction.avsc").read_text())
    assert schema["fields"][-1]["name"] == "original_transaction_id"
    previous = {**schema, "fields": schema["fields"][:-1]}
    topic = f"test.registry.{run['tag']}.previous"
    registry = SchemaRegistry(schema_registry_url)
    registry.set_compatibility(value_subject(topic), "BACKWARD")
    registry.register(value_subject(topic), json.dumps(previous))
    ok = synfinance(run["env"], "schema", "check", str(ROOT / "schemas" / "transaction.avsc"), "--topic", topic)
    assert ok.returncode == 0 and "compatible with the latest" in ok.stdout, ok.stdout + ok.stderr


def test_bad_or_unreachable_registry_is_one_line_and_exit_2(run: dict[str, Any]) -> None:
    for url, says in (("notaurl", "is not an http(s) URL"), ("http://127.0.0.1:1", "unreachable")):
        result = synfinance({**run["env"], "SYNFIN_SCHEMA_REGISTRY_URL": url}, "produce", "--events", "10",
                            timeout=60)
        assert result.returncode == 2 and says in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
