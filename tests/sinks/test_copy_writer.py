"""Binary COPY rows and the idempotent writer against a real PostgreSQL: every column type round-trips,
replays are no-ops, newer profiles win, a row PostgreSQL refuses is isolated, an outage is named."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from synfinance.common.trace import trace_ids, traceparents
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode, encode
from synfinance.sinks.copy_writer import CopyWriter, DatabaseUnavailable, TableLoad
from synfinance.sinks.pgcopy import CopyRows, PgType, Segments, encode_rows
from synfinance.sinks.tables import TABLES, record_problem, rows_from_batch, rows_from_records
from tests.sinks.db_support import scratch_schema, select

pytestmark = pytest.mark.integration


@pytest.fixture
def db_schema(database_url: str) -> Iterator[str]:
    with scratch_schema(database_url, f"copytest_{uuid.uuid4().hex[:8]}") as name:
        yield name


def _as_stored(column: Any, value: Any) -> Any:
    """The Python value psycopg2 reads back for an Avro value of this column."""
    if value is None:
        return None
    if column.pg is PgType.TIMESTAMPTZ:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)
    if column.pg is PgType.DATE:
        return date(1970, 1, 1) + timedelta(days=value)
    return value


def _leaf(record: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        record = record[part]
    return record


def _traces(n: int) -> np.ndarray:
    """Trace ids of `n` records, every third one without a (valid) traceparent."""
    values = traceparents(np.random.default_rng(n), n).tolist()
    return trace_ids([None if i % 3 == 0 else value for i, value in enumerate(values)])


def _stored_value(column: Any, record: dict[str, Any], trace: bytes) -> Any:
    if column.header is not None:
        return trace.decode() or None
    return _as_stored(column, _leaf(record, column.field))


def _scored(i: int) -> dict[str, Any]:
    features = {"txn_count_5m": i, "txn_count_1h": -(2**31), "txn_count_24h": 2**31 - 1,
                "amount_sum_1h_paise": 2**62, "amount_sum_24h_paise": -5, "amount_zscore": -0.0,
                "distinct_merchants_1h": 1, "distinct_devices_24h": 2, "distinct_cities_24h": 3,
                "seconds_since_prev": None if i % 2 else 1.5, "km_from_prev": math.inf if i % 3 == 0 else 2.0,
                "speed_kmh_from_prev": None, "km_from_home": 5e-324, "is_new_device": True, "is_new_merchant": False,
                "declines_1h": 0, "small_txns_1h": 4, "hour_of_day": 23, "is_night": True, "is_weekend": False,
                "merchant_fraud_rate": 0.25}
    return {"transaction_id": f"T{i:05d}-ü", "customer_id": "C1", "event_time": -(10**15) + i,
            "amount_paise": 2**63 - 1, "features": features, "score": 0.5, "model_version": "m-1",
            "processed_at": 1_700_000_000_000_000, "processing_latency_ms": 3.25}


def test_every_column_type_round_trips(database_url: str, db_schema: str) -> None:
    source = TransactionStream(StreamConfig(seed=11, customers=60, merchants=20))
    world = source.world
    records = {
        "customer": [world.customers.record(k, 1_700_000_000_000_000 + k) for k in range(60)],
        "merchant": [world.merchants.record(j, 1_700_000_000_000_000) for j in range(20)],
        "scored_transaction": [_scored(i) for i in range(30)],
        "alert": [{"alert_id": f"A{i}", "transaction_id": "T1", "customer_id": "C1", "event_time": 0,
                   "score": 0.99, "threshold": 0.9, "model_version": "m-1",
                   "reasons": [] if i == 0 else ["velocity", "नया device", "q" * 400][:i], "created_at": 1}
                  for i in range(4)],
    }
    records["customer"][0]["name"] = "Zoë \\ tab\there \"quoted\" " + "ए" * 200  # long, escapes, unicode
    writer = CopyWriter(database_url, db_schema)
    loads = []
    traces = {name: _traces(len(recs)) for name, recs in records.items()}
    for name, recs in records.items():
        assert all(record_problem(TABLES[name], r) is None for r in recs)
        loads.append(TableLoad(TABLES[name], rows_from_records(TABLES[name], recs, traces[name])))
    result = writer.write(loads)
    assert result.written == {TABLES[n].name: len(r) for n, r in records.items()}
    for name, recs in records.items():
        spec = TABLES[name]
        columns = [c.name for c in spec.columns]
        sql = f"SELECT {', '.join(columns)} FROM {spec.name} ORDER BY {spec.key[0]}"
        stored = select(database_url, db_schema, sql)
        expected = sorted((tuple(_stored_value(c, r, t) for c in spec.columns)
                           for r, t in zip(recs, traces[name].tolist(), strict=True)),
                          key=lambda row: row[columns.index(spec.key[0])])
        assert len(stored) == len(expected)
        for got, want in zip(stored, expected, strict=True):
            for column, g, w in zip(spec.columns, got, want, strict=True):
                if isinstance(w, float) and math.isnan(w):
                    assert math.isnan(g)
                else:
                    assert g == w, (spec.name, column.name)
    writer.close()


def test_the_column_wise_path_writes_the_same_bytes_as_the_per_record_path() -> None:
    source = TransactionStream(StreamConfig(seed=4, customers=300, merchants=50))
    encoder = RecordEncoder(source.world)
    batch = next(source.batches(3_000))
    values = {"transaction": encoder.encode_transactions(batch), "label": encoder.encode_labels(batch),
              "scored_transaction": [encode("scored_transaction", _scored(i)) for i in range(300)]}
    # every nullable field null in every third transaction (null enums included)
    nullable = [c.field for c in TABLES["transaction"].columns if c.nullable and c.header is None]
    values["transaction"] = [encode("transaction", {**decode(v), **dict.fromkeys(nullable)}) if i % 3 == 0 else v
                             for i, v in enumerate(values["transaction"])]
    for name, vals in values.items():
        spec = TABLES[name]
        decoder = spec.batch_decoder()
        assert decoder is not None
        decoded = decoder.decode(vals)
        traces = _traces(len(vals))
        fast = rows_from_batch(spec, decoded, np.arange(len(vals)), traces)
        slow = rows_from_records(spec, [decode(v) for v in vals], traces)
        assert fast.data == slow.data
        assert np.array_equal(fast.offsets, slow.offsets)


def test_replays_are_no_ops_and_newer_profiles_win(database_url: str, db_schema: str) -> None:
    source = TransactionStream(StreamConfig(seed=2, customers=10, merchants=5))
    encoder = RecordEncoder(source.world)
    batch = next(source.batches(500))
    spec = TABLES["transaction"]
    decoder = spec.batch_decoder()
    assert decoder is not None
    decoded = decoder.decode(encoder.encode_transactions(batch))
    rows = rows_from_batch(spec, decoded, np.arange(500))
    writer = CopyWriter(database_url, db_schema)
    first, rest = rows.slice(0, 300), rows.slice(300, 500)
    assert writer.write([TableLoad(spec, first)]).written == {"transactions": 300}
    assert (writer.direct_copies, writer.direct_conflicts) == (1, 0)  # new keys: straight into the table
    again = writer.write([TableLoad(spec, CopyRows.concat([rows, rows]))])  # a replay, with new rows, twice over
    assert again.written == {"transactions": 200} and again.staged == {"transactions": 1000}
    assert (writer.direct_copies, writer.direct_conflicts) == (1, 1)  # refused whole, then staged
    assert writer.write([TableLoad(spec, rest)]).written == {"transactions": 0}  # staged: cooling down
    assert writer.direct_copies == 1
    assert select(database_url, db_schema, "SELECT count(*), count(DISTINCT transaction_id) FROM transactions") == [
        (500, 500)]

    customers = TABLES["customer"]
    old = source.world.customers.record(0, 1_000)
    new = {**old, "name": "Renamed", "updated_at": 2_000}
    # the newest version wins within a batch and across batches; an older one never overwrites
    assert writer.write([TableLoad(customers, rows_from_records(customers, [old, new, old]))]).written == {
        "customers": 1}
    assert writer.write([TableLoad(customers, rows_from_records(customers, [old]))]).written == {"customers": 0}
    newest = {**old, "name": "Newest", "updated_at": 3_000}
    assert writer.write([TableLoad(customers, rows_from_records(customers, [newest]))]).written == {"customers": 1}
    assert select(database_url, db_schema, "SELECT name, count(*) OVER () FROM customers") == [("Newest", 1)]
    writer.close()


def test_a_row_postgresql_refuses_is_isolated_and_the_rest_is_written(database_url: str, db_schema: str) -> None:
    spec = TABLES["label"]
    source = TransactionStream(StreamConfig(seed=3, customers=20, merchants=5))
    batch = next(source.batches(1_000))
    records = [decode(v) for v in RecordEncoder(source.world).encode_labels(batch)]
    good = rows_from_records(spec, records)
    # bytes no validation would let through: invalid UTF-8 in a text column, straight into COPY
    bad_row = rows_from_records(spec, [{**records[0], "transaction_id": "X" * 8}])
    corrupt = bad_row.data.replace(b"XXXXXXXX", b"\xff\xfeXXXXXX")
    rows = CopyRows.concat([good.slice(0, 700), CopyRows(corrupt, bad_row.offsets), good.slice(700, 1000)])
    writer = CopyWriter(database_url, db_schema)
    result = writer.write([TableLoad(spec, rows)])
    assert result.written == {"labels": 1000}
    assert [(r.table, r.row) for r in result.rejected] == [("labels", 700)]
    assert result.rejected[0].error_class == "CharacterNotInRepertoire"
    assert select(database_url, db_schema, "SELECT count(*) FROM labels") == [(1000,)]
    writer.close()


def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    from synfinance.stack.processes import free_port

    writer = CopyWriter(f"postgresql://synfin@127.0.0.1:{free_port()}/synfin", connect_timeout=2)
    rows = encode_rows([(PgType.TEXT, Segments.from_bytes([b"x"]))], 1)
    with pytest.raises(DatabaseUnavailable):
        writer.write([TableLoad(TABLES["label"], rows)])
