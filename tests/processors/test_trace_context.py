"""Trace context end to end on a real broker and PostgreSQL: a payment's W3C trace id is the same on its
transaction, its labels, its score and its alert, and on their rows; `db query --trace` shows that path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest

from synfinance.cli import main
from synfinance.common.trace import TRACE_HEADER, traceparents
from synfinance.schemas.codec import decode
from synfinance.stack.processes import free_port
from tests.processors.kafka_support import create_topics, publish, read_records, start_processor, topic_names
from tests.sinks.db_support import scratch_schema, select

pytestmark = pytest.mark.integration

TABLE_TOPICS = {"transactions": "transactions", "labels": "labels", "scored_transactions": "scored",
                "alerts": "alerts", "customers": "customers"}
KEYS = {"transactions": "transaction_id", "labels": "transaction_id, revision",
        "scored_transactions": "transaction_id", "alerts": "transaction_id", "customers": "customer_id"}


def _headers(dataset: Any) -> tuple[dict[str, Any], dict[str, bytes | None], dict[str, str]]:
    """Headers to publish by customer and transaction id, each transaction's sent traceparent (most have a
    fresh one; every 97th none and every 89th an invalid one, upper-case hex: their outputs carry none), and
    each customer's trace id."""
    ids = [t["transaction_id"] for t in dataset.transactions]
    fresh = traceparents(np.random.default_rng(), len(ids) + len(dataset.customer_values)).tolist()
    sent: dict[str, bytes | None] = {}
    for i, txn_id in enumerate(ids):
        sent[txn_id] = None if i % 97 == 0 else fresh[i].upper() if i % 89 == 0 else fresh[i]
    headers: dict[str, Any] = {txn_id: None if value is None else [("synfin-seq", b"%d" % i), (TRACE_HEADER, value)]
                               for i, (txn_id, value) in enumerate(sent.items())}
    customers = {}
    for (customer_id, _), value in zip(dataset.customer_values, fresh[len(ids):], strict=True):
        headers[customer_id] = [(TRACE_HEADER, value)]
        customers[customer_id] = value[3:35].decode()
    return headers, sent, customers


def _trace_id(value: bytes | None) -> str | None:
    """The trace id the pipeline should carry for a sent traceparent (None: not a valid one)."""
    return None if value is None or value != value.lower() else value[3:35].decode()


def _by_record(messages: list[Any], key: str) -> dict[str, list[bytes | None]]:
    """Record id -> the traceparent header of each of its messages (None: no such header)."""
    out: dict[str, list[bytes | None]] = {}
    for message in messages:
        headers = dict(message.headers() or [])
        out.setdefault(decode(message.value())[key], []).append(headers.get(TRACE_HEADER))
    return out


def test_a_payments_trace_id_is_on_every_record_and_row_of_its_path(
        kafka_bootstrap: str, database_url: str, dataset: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:8]
    topics, group = topic_names(f"trace-{run}"), f"processor-trace-{run}"
    create_topics(kafka_bootstrap, topics)
    headers, sent, customer_traces = _headers(dataset)
    expected = {txn_id: _trace_id(value) for txn_id, value in sent.items()}
    assert sum(v is None for v in expected.values()) > 300  # both kinds of untraced transactions are there
    publish(kafka_bootstrap, topics, dataset, headers=headers)
    assert start_processor(kafka_bootstrap, topics, group, "--stop-when-idle", "4").wait(240) == 0

    # Kafka: the transaction records as sent; one score per transaction and each alert, with its trace id
    transactions = _by_record(read_records(kafka_bootstrap, topics.transactions), "transaction_id")
    assert transactions == {txn_id: [value] for txn_id, value in sent.items()}
    scored = _by_record(read_records(kafka_bootstrap, topics.scored), "transaction_id")
    alerts = _by_record(read_records(kafka_bootstrap, topics.alerts), "transaction_id")
    assert set(scored) == set(expected) and all(len(values) == 1 for values in scored.values())
    assert alerts and set(alerts) <= set(expected) and all(len(values) == 1 for values in alerts.values())
    for outputs in (scored, alerts):
        for txn_id, (child,) in outputs.items():
            if expected[txn_id] is None:
                assert child is None, txn_id  # no valid trace in: none out
                continue
            parent = sent[txn_id]
            assert child is not None and parent is not None
            assert child[3:35].decode() == expected[txn_id] and child[52:] == parent[52:]  # trace id, flags
            assert child[36:52] != parent[36:52]  # the processor's own parent id
    traced_alerts = [t for t in alerts if expected[t] is not None]
    assert traced_alerts and all(alerts[t] == scored[t] for t in alerts)  # an alert shares its score's step

    # PostgreSQL: every row of every table holds its record's trace id (NULL without one)
    schema, port = f"trace_{run}", free_port()
    with scratch_schema(database_url, schema):
        env = {"SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
               **{f"SYNFIN_TOPICS__{field.upper()}": name for field, name in topics.model_dump().items()}}
        sink = subprocess.run([sys.executable, "-m", "synfinance.cli", "sink", "--group", f"sink-trace-{run}",
                               "--schema", schema, "--topics", ",".join(TABLE_TOPICS.values()),
                               "--metrics-port", str(port), "--stop-when-idle", "2"],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=240)
        assert sink.returncode == 0, sink.stdout + sink.stderr
        rows = {table: select(database_url, schema, f"SELECT {KEYS[table].split(',')[0]}, trace_id FROM {table}")
                for table in TABLE_TOPICS}
        assert Counter(rows["transactions"]) == Counter(expected.items())
        assert Counter(rows["labels"]) == Counter((label["transaction_id"], expected[label["transaction_id"]])
                                                  for label in dataset.labels)
        assert Counter(rows["scored_transactions"]) == Counter(expected.items())
        assert Counter(rows["alerts"]) == Counter((txn_id, expected[txn_id]) for txn_id in alerts)
        assert Counter(rows["customers"]) == Counter(customer_traces.items())

        # `db query --trace`: one alerting payment's rows in pipeline order, nothing of any other trace
        monkeypatch.setenv("SYNFIN_DATABASE_URL", database_url)
        txn_id = traced_alerts[0]
        capsys.readouterr()
        assert main(["db", "query", "--trace", str(expected[txn_id]).upper(), "--schema", schema, "--json"]) == 0
        path = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        labels = sum(label["transaction_id"] == txn_id for label in dataset.labels)
        assert [(r["step"], r["table"]) for r in path] == [(1, "transactions")] + [(2, "labels")] * labels + [
            (3, "scored_transactions"), (4, "alerts")]
        assert {r["transaction_id"] for r in path} == {txn_id}
        assert main(["db", "query", "--trace", "12345", "--schema", schema]) == 2
        assert "expected a W3C trace id" in capsys.readouterr().err

