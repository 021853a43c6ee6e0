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
from sqlalchemy import text
from sqlalchemy.exc import InternalError

from sinks import database, schema
from sinks.copy_writer import CopyWriter, TableLoad
from sinks.tables import TABLES, rows_from_records
from synfinance.cli import main
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
        view = connection.execute(text("SELECT pg_get_viewdef(CAST(:v AS regclass))"),
                                  {"v": schema.VIEW_NAME}).scalar_one()
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
    # the migration froze the view's SQL; the module's copy must still say the same
    frozen = import_module("sinks.migrations.versions.0001_initial_schema").VIEW
    assert _squash(frozen) == _squash(schema.create_view_sql())
    assert "scored_transactions" in view and "labels" in view


def _load_fixture(database_url: str, db_schema: str) -> None:
    """Eight labelled transactions at three merchants, two models' scores."""
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
            "decline_reason": None, "response_code": "00"})
        labels.append({"transaction_id": tid, "customer_id": "C1", "event_time": 1_700_000_000_000_000 + i,
                       "is_fraud": i in frauds, "fraud_type": frauds.get(i), "scenario_id": None,
                       "is_anomaly": False, "anomaly_type": None, "severity": 0.0,
                       "label_time": 1_700_000_100_000_000})
        for model, score in (("m1", 1.0 - i / 10), ("m2", i / 10)):  # m1 ranks 0,1,2.. first; m2 7,6,5..
            scores.append({"transaction_id": tid, "customer_id": "C1", "event_time": 1_700_000_000_000_000 + i,
                           "amount_paise": 1, "features": _features(), "score": score, "model_version": model,
                           "processed_at": 1, "processing_latency_ms": 1.0})
    writer = CopyWriter(database_url, db_schema)
    writer.write([TableLoad(TABLES[n], rows_from_records(TABLES[n], recs)) for n, recs in
                  (("transaction", transactions), ("label", labels), ("scored_transaction", scores))])
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
    assert re.search(r"transactions\s+8\b", out) and re.search(r"scored_transactions\s+16\b", out)

    assert main(["db", "query", "fraud-by-type", "--schema", db_schema, "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["fraud_type"], r["transactions"], r["amount_inr"]) for r in rows] == [
        ("card_testing", 2, 300.0), ("account_takeover", 1, 600.0), ("-", 5, 2700.0)]

    assert main(["db", "query", "precision-at-k", "--schema", db_schema, "--k", "2", "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model_version"], r["k"], r["frauds"], r["precision"]) for r in rows] == [
        ("m1", 2, 2, 1.0), ("m2", 2, 0, 0.0)]

    assert main(["db", "query", "top-merchants", "--schema", db_schema, "--limit", "1", "--json"]) == 0
    rows = [decode_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["merchant_id"], r["frauds"], r["transactions"]) for r in rows] == [("M0", 1, 3)]

    assert main(["db", "query", "no-such-report", "--schema", db_schema]) == 2
    assert "unknown report" in capsys.readouterr().err

    engine = database.engine(database_url, db_schema, read_only=True)
    with pytest.raises(InternalError, match="read-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM transactions"))
    engine.dispose()


def decode_json(line: str) -> dict[str, Any]:
    return dict(json.loads(line))
