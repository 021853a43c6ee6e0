"""The sink's schema: the Alembic migration builds exactly the SQLAlchemy metadata, and the `db`
commands migrate, report status and answer the canned read-only reports with exact figures."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import InternalError

from synfinance.cli import main
from synfinance.sinks import database, schema
from synfinance.sinks.copy_writer import CopyWriter, TableLoad
from synfinance.sinks.tables import TABLES, rows_from_records
from tests.sinks.db_support import scratch_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def db_schema(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SYNFIN_DATABASE_URL", database_url)
    with scratch_schema(database_url, f"schematest_{uuid.uuid4().hex[:8]}", migrate=False) as name:
        yield name


def _squash(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def test_the_migration_builds_exactly_the_metadata(database_url: str, db_schema: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "init", "--schema", db_schema]) == 0
    assert main(["db", "init", "--schema", db_schema]) == 0  # idempotent
    assert f"schema {db_schema}: at revision {database.head_revision()} (head)" in capsys.readouterr().out
    engine = database.engine(database_url, db_schema)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []
        # alembic does not compare primary keys or server defaults: check them here
        inspector = inspect(connection)
        for table in schema.metadata.tables.values():
            assert inspector.get_pk_constraint(table.name)["constrained_columns"] == [
                c.name for c in table.primary_key.columns], table.name
            defaults = {c["name"]: c["default"] for c in inspector.get_columns(table.name)}
            assert {name for name, default in defaults.items() if default is not None} == {"ingested_at"}
        view = connection.execute(text("SELECT pg_get_viewdef(CAST(:v AS regclass))"),
                                  {"v": schema.VIEW_NAME}).scalar_one()
        labels_view = connection.execute(text("SELECT pg_get_viewdef(CAST(:v AS regclass))"),
                                         {"v": schema.LABELS_VIEW_NAME}).scalar_one()
        # alembic does not compare partial-index predicates: check every index's columns and WHERE
        indexdefs = dict(connection.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")).all())
    for table in schema.metadata.tables.values():
        for index in table.indexes:
            definition = indexdefs[str(index.name)]
            assert f"({', '.join(c.name for c in index.columns)})" in definition
            where = index.dialect_options["postgresql"]["where"]
            assert (where is not None) == (" WHERE " in definition)
            if where is not None:
                assert _squash(str(where)) in definition
    engine.dispose()
    # the migrations froze the views' SQL (0003 and 0004 re-created them as 0002 made them); the module's
    # copy must still say the same
    frozen = import_module("synfinance.sinks.migrations.versions.0002_label_revisions").VIEWS
    assert _squash(frozen) == _squash(schema.create_view_sql())
    assert _squash(import_module("synfinance.sinks.migrations.versions.0003_refund_originals").VIEW) in _squash(frozen)
    assert _squash(import_module("synfinance.sinks.migrations.versions.0004_trace_ids").VIEWS) == _squash(frozen)
    assert "scored_transactions" in view and "labels_latest" in view and "revision" in labels_view


def _load_fixture(database_url: str, db_schema: str) -> None:
    """Eight labelled transactions at three merchants, two models' scores (one transaction scored twice by m2);
    two labels revised later:
    T1 card_testing, then (revision 1) legitimate; T6 legitimate, then (revision 1, written before
    revision 0) account_takeover."""
    transactions, labels, scores = [], [], []
    frauds = {0: "card_testing", 1: "card_testing", 5: "account_takeover"}
    for i in range(8):
        tid = f"T{i}"
        transactions.append({
            "transaction_id": tid, "event_time": 1_700_000_000_000_000 + i, "customer_id": "C1",
            "merchant_id": f"M{i % 3}", "payee_vpa": None, "amount_paise": 10_000 * (i + 1), "currency": "INR",
            "payment_mode": "UPI", "card_network": None, "card_type": None, "card_bin": None, "masked_pan": None,
            "payer_vpa": "c1@ybl", "instrument_id": "I1", "issuer_bank": "HDFC Bank", "channel": "QR",
            "entry_mode": "QR_SCAN", "transaction_type": "PURCHASE", "merchant_category": "grocery", "mcc": "5411",
            "city": "Pune", "state": "Maharashtra", "region": "West", "city_tier": 1, "latitude": 18.5,
            "longitude": 73.8, "device_id": None, "terminal_id": None, "ip_address": None, "status": "APPROVED",
            "decline_reason": None, "response_code": "00", "original_transaction_id": None})
        labels.append({"transaction_id": tid, "customer_id": "C1", "event_time": 1_700_000_000_000_000 + i,
                       "is_fraud": i in frauds, "fraud_type": frauds.get(i), "scenario_id": None,
                       "is_anomaly": False, "anomaly_type": None, "severity": 0.0,
                       "label_time": 1_700_000_100_000_000, "revision": 0})
        # m1 ranks 0,1,2.. first; m2 7,6,5..; the version is MODEL/WORKER/LABELS_LEARNED: a new one each step
        for model, score in (("m1", 1.0 - i / 10), ("m2", i / 10)):
            scores.append({"transaction_id": tid, "customer_id": "C1", "event_time": 1_700_000_000_000_000 + i,
                           "amount_paise": 1, "features": _features(), "score": score,
                           "model_version": f"{model}/{i % 2}/{i}",
                           "processed_at": 1, "processing_latency_ms": 1.0})
    # T7 scored again by m2 after a restart (lower score, later): precision-at-k keeps its first score
    scores.append({**scores[-1], "score": 0.0, "model_version": "m2/1/50", "processed_at": 2})
    revised = [{**labels[1], "is_fraud": False, "fraud_type": None, "revision": 1},
               {**labels[6], "is_fraud": True, "fraud_type": "account_takeover", "revision": 1}]
    label = TABLES["label"]
    writer = CopyWriter(database_url, db_schema)
    writer.write([TableLoad(label, rows_from_records(label, [revised[1]]))])
    writer.write([TableLoad(TABLES[n], rows_from_records(TABLES[n], recs)) for n, recs in
                  (("transaction", transactions), ("label", labels), ("scored_transaction", scores))])
    writer.write([TableLoad(label, rows_from_records(label, [revised[0]]))])
    writer.close()


def _features() -> dict[str, Any]:
    """All-zero features (the reports do not read them)."""
    zero = {"BOOL": False, "FLOAT8": 0.0}
    return {c.field.split(".", 1)[1]: zero.get(c.pg.name, 0) for c in TABLES["scored_transaction"].columns
            if c.field.startswith("features.")}


def test_status_and_the_canned_reports(database_url: str, db_schema: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status", "--schema", db_schema]) == 0
    assert "revision  none" in capsys.readouterr().out
    assert main(["db", "query", "fraud-by-type", "--schema", db_schema]) == 2  # not initialised: one line
    assert "run `synfinance db init" in capsys.readouterr().err
    assert main(["db", "init", "--schema", db_schema]) == 0
    _load_fixture(database_url, db_schema)
    capsys.readouterr()

    assert main(["db", "status", "--schema", db_schema]) == 0
    out = capsys.readouterr().out
    assert re.search(r"transactions\s+8\b", out) and re.search(r"scored_transactions\s+17\b", out)
    assert re.search(r"\blabels\s+10\b", out) and re.search(r"labels_latest\s+8\b", out)  # history, latest

    # the reports read each transaction's latest label: T1 is legitimate now, T6 account_takeover
    assert main(["db", "query", "fraud-by-type", "--schema", db_schema, "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["fraud_type"], r["transactions"], r["amount_inr"]) for r in rows] == [
        ("account_takeover", 2, 1300.0), ("card_testing", 1, 100.0), ("-", 5, 2200.0)]

    assert main(["db", "query", "precision-at-k", "--schema", db_schema, "--k", "2", "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["versions"], r["k"], r["frauds"], r["precision"]) for r in rows] == [
        ("m1", 2, 2, 1, 0.5), ("m2", 2, 2, 1, 0.5)]  # m1's top 2: T0, T1 (T1 no longer fraud); m2's: T7, T6
    assert main(["db", "query", "precision-at-k", "--schema", db_schema, "--k", "3", "--model", "m2", "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["versions"], r["k"], r["frauds"]) for r in rows] == [("m2", 3, 3, 2)]  # T7, T6, T5

    assert main(["db", "query", "top-merchants", "--schema", db_schema, "--limit", "1", "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["merchant_id"], r["frauds"], r["transactions"]) for r in rows] == [("M0", 2, 3)]  # T0, T6

    assert main(["db", "query", "no-such-report", "--schema", db_schema]) == 2
    assert "unknown report" in capsys.readouterr().err

    engine = database.engine(database_url, db_schema, read_only=True)
    with pytest.raises(InternalError, match="read-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM transactions"))
    engine.dispose()


def decode_json(line: str) -> dict[str, Any]:
    return dict(json.loads(line))


def test_the_migrations_upgrade_a_0001_schema_holding_labels_in_place(database_url: str, db_schema: str) -> None:
    engine = database.engine(database_url, db_schema)
    assert database.upgrade(engine, db_schema, "0001") == "0001"
    with engine.begin() as connection:
        # what a 0001 sink wrote: one label per transaction, no revision
        connection.execute(text(
            "INSERT INTO labels (transaction_id, customer_id, event_time, is_fraud, fraud_type, is_anomaly, "
            "severity, label_time) SELECT 'T' || i, 'C1', to_timestamp(1700000000 + i), i % 3 = 0, "
            "CASE WHEN i % 3 = 0 THEN 'card_testing' END, false, 0, to_timestamp(1700100000) "
            "FROM generate_series(0, 99) AS i"))
        connection.execute(text(
            "INSERT INTO transactions SELECT 'T' || i, to_timestamp(1700000000 + i), 'C1', NULL, 'p@ybl', 100, "
            "'INR', 'UPI', NULL, NULL, NULL, NULL, 'c1@ybl', 'I1', 'HDFC Bank', 'IN_APP', 'UPI_INTENT', "
            "'P2P_TRANSFER', NULL, NULL, 'Pune', 'Maharashtra', 'West', 1, 18.5, 73.8, NULL, NULL, NULL, "
            "'APPROVED', NULL, '00' FROM generate_series(0, 99) AS i"))
        before = connection.execute(text("SELECT transaction_id, is_fraud, ingested_at FROM labels")).all()

    assert database.upgrade(engine, db_schema) == "0004"
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []
        # 0004: every table has a trace_id, null in rows written before it; the views show it
        for table in schema.metadata.tables:
            assert "trace_id" in {c["name"] for c in inspect(connection).get_columns(table)}, table
        assert connection.execute(text(
            "SELECT count(*) FROM transactions_labelled WHERE trace_id IS NULL")).scalar_one() == 100
        assert connection.execute(text(
            "SELECT count(*) FROM labels_latest WHERE trace_id IS NULL")).scalar_one() == 100
        # 0003: rows written before refunds named their purchase have none, and the view shows the column
        assert connection.execute(text(
            "SELECT count(*) FROM transactions_labelled WHERE original_transaction_id IS NULL")).scalar_one() == 100
        assert inspect(connection).get_pk_constraint("labels")["constrained_columns"] == [
            "transaction_id", "revision"]
        after = connection.execute(text("SELECT transaction_id, is_fraud, ingested_at, revision FROM labels")).all()
        assert sorted(after) == sorted((*row, 0) for row in before)  # the same rows, now revision 0
        assert connection.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE is_fraud), count(DISTINCT label_revision) "
            "FROM transactions_labelled")).one() == (100, 34, 1)

    # a chargeback of T1 (legitimate at revision 0) lands as revision 1 and is what the views show
    label = TABLES["label"]
    chargeback = {"transaction_id": "T1", "customer_id": "C1", "event_time": 1_700_000_001_000_000,
                  "is_fraud": True, "fraud_type": "friendly_fraud", "scenario_id": None, "is_anomaly": False,
                  "anomaly_type": None, "severity": 0.0, "label_time": 1_702_000_000_000_000, "revision": 1}
    writer = CopyWriter(database_url, db_schema)
    assert writer.write([TableLoad(label, rows_from_records(label, [chargeback]))]).written == {"labels": 1}
    writer.close()
    with engine.connect() as connection:
        assert connection.execute(text(
            "SELECT is_fraud, fraud_type, label_revision FROM transactions_labelled WHERE transaction_id = 'T1'"
        )).all() == [(True, "friendly_fraud", 1)]
        assert connection.execute(text("SELECT count(*) FROM labels")).scalar_one() == 101
        assert connection.execute(text("SELECT count(*) FROM labels_latest")).scalar_one() == 100

    # back to 0001: one label per transaction again, the latest one
    database.downgrade(engine, db_schema, "0001")
    with engine.connect() as connection:
        assert database.current_revision(engine) == "0001"
        assert connection.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE is_fraud) FROM transactions_labelled")).one() == (100, 35)
        assert connection.execute(text(
            "SELECT fraud_type FROM labels WHERE transaction_id = 'T1'")).scalar_one() == "friendly_fraud"
    engine.dispose()
