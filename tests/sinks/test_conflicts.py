"""Conflicting duplicates: what counts as one (pure), how the writer finds them against a real PostgreSQL
on both of its staging orders, and the real sink sending them to the dead-letter topic with their
reason while identical replays stay silent."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from synfinance.common.trace import trace_ids, traceparents
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode, encode
from synfinance.sinks.conflicts import Conflict, conflicts_from
from synfinance.sinks.copy_writer import CopyWriter, TableLoad, WriteResult
from synfinance.sinks.metrics import SinkMetrics
from synfinance.sinks.pgcopy import CopyRows
from synfinance.sinks.pipeline import BatchWriter
from synfinance.sinks.prepare import PreparedBatch
from synfinance.sinks.tables import TABLES, rows_from_records
from tests.sinks.conftest import Records
from tests.sinks.db_support import scratch_schema, select

# -- what a conflict is (no database) ---------------------------------------------------------------


def test_identity_is_the_key_plus_a_profiles_version_and_per_delivery_stamps_are_not_compared() -> None:
    assert {s.name: s.identity for s in TABLES.values()} == {
        "customers": ("customer_id", "updated_at"), "merchants": ("merchant_id", "updated_at"),
        "transactions": ("transaction_id",), "labels": ("transaction_id", "revision"),
        "scored_transactions": ("transaction_id", "model_version"), "alerts": ("alert_id",)}
    ignored = {s.name: {c.name for c in s.columns} - set(s.identity) - set(s.compared) for s in TABLES.values()}
    # the trace id too: every producer run (a replay of the same seed) draws new traces
    assert ignored == {"customers": {"trace_id"}, "merchants": {"trace_id"}, "transactions": {"trace_id"},
                       "labels": {"trace_id"}, "alerts": {"created_at", "trace_id"},
                       "scored_transactions": {"processed_at", "processing_latency_ms", "trace_id"}}


def test_conflicts_name_their_row_key_and_columns() -> None:
    found = [(17, 2, ["T-1", "0"], ["is_fraud", "label_time"]), (None, 5, None, None)]  # + remove_stored's count
    assert conflicts_from(TABLES["label"], found, offset=100) == [
        Conflict("labels", 102, "(transaction_id, revision)=(T-1, 0)", ("is_fraud", "label_time"))]
    assert Conflict("labels", 102, "(transaction_id, revision)=(T-1, 0)", ("is_fraud",)).reason == (
        "conflicting duplicate of labels key (transaction_id, revision)=(T-1, 0): differs in is_fraud")


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def topic(self) -> str:
        return "t.transactions"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return 1, 0  # (create time, epoch): a simulated record, not live, so no end-to-end latency


class _OneResult:
    def __init__(self, result: WriteResult) -> None:
        self.result = result

    def write(self, loads: Any) -> WriteResult:
        return self.result

    def close(self) -> None:
        pass


class _Letters:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, letters: Any) -> list[Any]:
        self.sent += letters
        return []

    def close(self) -> int:
        return 0


def test_the_writer_thread_dead_letters_each_conflict_and_counts_it_apart_from_duplicates() -> None:
    result = WriteResult(staged={"transactions": 10}, written={"transactions": 6},
                         conflicts=[Conflict("transactions", 3, "(transaction_id)=(T3)", ("amount_paise",)),
                                    Conflict("transactions", 8, "(transaction_id)=(T8)", ("city", "state"))])
    letters, metrics = _Letters(), SinkMetrics()
    metrics.watch_tables(["transactions", "labels"])
    writer = BatchWriter([_OneResult(result)], letters, metrics)  # type: ignore[list-item, arg-type]
    sources = [_Message(offset) for offset in range(10)]
    assert writer.submit(PreparedBatch(sources={"transactions": sources}, offsets={("t", 0): 10}))
    assert writer.wait_idle(5)
    writer.close()
    assert [(d.message.offset(), d.error_class, d.error) for d in letters.sent] == [
        (3, "ConflictingDuplicate", "conflicting duplicate of transactions key (transaction_id)=(T3): "
                                    "differs in amount_paise"),
        (8, "ConflictingDuplicate", "conflicting duplicate of transactions key (transaction_id)=(T8): "
                                    "differs in city, state")]
    value = metrics.registry.get_sample_value
    assert value("synfin_sink_conflicts_total", {"table": "transactions"}) == 2
    assert value("synfin_sink_conflicts_total", {"table": "labels"}) == 0  # exported before its first conflict
    assert value("synfin_sink_rows_duplicate_total", {"table": "transactions"}) == 2  # 10 - 6 written - 2
    assert value("synfin_sink_dlq_records_total", {"topic": "t.transactions",
                                                   "error_class": "ConflictingDuplicate"}) == 2


# -- the writer against PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def db_schema(database_url: str) -> Iterator[str]:
    with scratch_schema(database_url, f"conflicttest_{uuid.uuid4().hex[:8]}") as name:
        yield name


def _transactions(seed: int, n: int) -> list[dict[str, Any]]:
    source = TransactionStream(StreamConfig(seed=seed, customers=50, merchants=10))
    return [decode(v) for v in RecordEncoder(source.world).encode_transactions(next(source.batches(n)))]


def _write(writer: CopyWriter, name: str, records: list[dict[str, Any]]) -> WriteResult:
    return writer.write([TableLoad(TABLES[name], rows_from_records(TABLES[name], records))])


def _found(result: WriteResult) -> list[tuple[int, str, tuple[str, ...]]]:
    return sorted((c.row, c.key, c.columns) for c in result.conflicts)


@pytest.mark.integration
def test_stored_and_repeated_keys_with_other_content_are_conflicts_on_both_staging_orders(
        database_url: str, db_schema: str) -> None:
    txns = _transactions(5, 900)
    other = {**txns[0], "amount_paise": txns[0]["amount_paise"] + 1}
    writer = CopyWriter(database_url, db_schema)
    assert _write(writer, "transaction", txns[:300]).written == {"transactions": 300}
    assert writer.direct_copies == 1

    # a replay of 0-299 with conflicting versions of 0 and 7, new rows 300-499, and 450 twice over:
    # the direct COPY fails, the batch is probed before the insert
    moved = {**txns[7], "city": "Leh", "latitude": 34.15}
    repeat = {**txns[450], "status": "DECLINED", "decline_reason": "INSUFFICIENT_FUNDS"}
    result = _write(writer, "transaction", [*txns[:300], other, moved, *txns[300:500], repeat])
    assert (writer.direct_copies, writer.direct_conflicts) == (1, 1)
    assert result.written == {"transactions": 200} and result.staged == {"transactions": 503}
    assert _found(result) == [(300, f"(transaction_id)=({txns[0]['transaction_id']})", ("amount_paise",)),
                              (301, f"(transaction_id)=({txns[7]['transaction_id']})", ("city", "latitude")),
                              (502, f"(transaction_id)=({txns[450]['transaction_id']})",
                               ("status", "decline_reason"))]
    # new keys only (still staged: the table cools down): nothing stored, so the next batch inserts first
    assert _write(writer, "transaction", txns[500:700]).conflicts == []
    # inserted first: it skips rows, and only then are they compared
    result = _write(writer, "transaction", [*txns[700:900], *txns[100:200], other, repeat])
    assert result.written == {"transactions": 200}
    assert [c.row for c in sorted(result.conflicts, key=lambda c: c.row)] == [300, 301]
    assert writer.direct_copies == 1  # all but the first went through the staging table
    # an identical replay of everything: no conflict, nothing written
    replay = _write(writer, "transaction", txns)
    assert (replay.written, replay.conflicts) == ({"transactions": 0}, [])
    # a replay by another producer run: the same records under new traces, no conflict either
    spec, traces = TABLES["transaction"], trace_ids(traceparents(np.random.default_rng(), len(txns)).tolist())
    replay = writer.write([TableLoad(spec, rows_from_records(spec, txns, traces))])
    assert (replay.written, replay.conflicts) == ({"transactions": 0}, [])
    assert select(database_url, db_schema, "SELECT count(trace_id) FROM transactions") == [(0,)]  # first one stays
    stored = select(database_url, db_schema, "SELECT amount_paise, city, status FROM transactions "
                     f"WHERE transaction_id IN ('{txns[0]['transaction_id']}', '{txns[7]['transaction_id']}', "
                     f"'{txns[450]['transaction_id']}') ORDER BY transaction_id")
    first = sorted((t["transaction_id"], (t["amount_paise"], t["city"], t["status"])) for t in (txns[0], txns[7],
                                                                                              txns[450]))
    assert stored == [row for _, row in first]  # the stored records stay as they were
    writer.close()


@pytest.mark.integration
def test_label_revisions_are_new_rows_and_processing_stamps_are_not_conflicts(database_url: str,
                                                                             db_schema: str) -> None:
    source = TransactionStream(StreamConfig(seed=6, customers=30, merchants=10))
    labels = [decode(v) for v in RecordEncoder(source.world).encode_labels(next(source.batches(100)))]
    writer = CopyWriter(database_url, db_schema)
    assert _write(writer, "label", labels).written == {"labels": 100}
    revised = {**labels[3], "revision": 1, "is_fraud": not labels[3]["is_fraud"]}
    same_revision = {**labels[4], "is_anomaly": not labels[4]["is_anomaly"]}
    result = _write(writer, "label", [revised, same_revision, labels[5]])
    assert result.written == {"labels": 1}
    assert _found(result) == [(1, f"(transaction_id, revision)=({labels[4]['transaction_id']}, 0)", ("is_anomaly",))]

    scored = [_scored(i) for i in range(20)]
    assert _write(writer, "scored_transaction", scored).written == {"scored_transactions": 20}
    # a re-processing of 0-9: other wall-clock stamps, same result; 10 re-scored differently
    again = [{**r, "processed_at": r["processed_at"] + 5_000_000, "processing_latency_ms": 99.0} for r in scored[:10]]
    rescored = {**scored[10], "score": 0.75, "features": {**scored[10]["features"], "declines_1h": 3}}
    result = _write(writer, "scored_transaction", [*again, rescored])
    assert result.written == {"scored_transactions": 0}
    assert _found(result) == [(10, "(transaction_id, model_version)=(T10, m-1)", ("declines_1h", "score"))]

    alert = {"alert_id": "A-T1", "transaction_id": "T1", "customer_id": "C1", "event_time": 0, "score": 0.9,
             "threshold": 0.5, "model_version": "m-1", "reasons": ["velocity"], "created_at": 1}
    assert _write(writer, "alert", [alert]).written == {"alerts": 1}
    result = _write(writer, "alert", [{**alert, "created_at": 2}, {**alert, "reasons": ["new device"]}])
    assert _found(result) == [(1, "(alert_id)=(A-T1)", ("reasons",))]
    writer.close()


@pytest.mark.integration
def test_profiles_conflict_only_within_one_version(database_url: str, db_schema: str) -> None:
    source = TransactionStream(StreamConfig(seed=8, customers=5, merchants=2))
    v1 = source.world.customers.record(0, 1_000)
    writer = CopyWriter(database_url, db_schema)
    assert _write(writer, "customer", [v1]).written == {"customers": 1}
    key = f"(customer_id, updated_at)=({v1['customer_id']}, 1970-01-01 00:00:00.001+00)"
    renamed = {**v1, "name": "Someone Else"}
    v2 = {**v1, "name": "Renamed", "updated_at": 2_000}
    # v1 with another name conflicts, even though v2 replaces v1 in the same statement; v2 is written
    result = _write(writer, "customer", [renamed, v2, v1])
    assert (result.written, _found(result)) == ({"customers": 1}, [(0, key, ("name",))])
    # two versions older than the stored one, the same version twice with different content
    v0 = {**v1, "updated_at": 500}
    result = _write(writer, "customer", [v0, {**v0, "age": v0["age"] + 1}, v0, v1])
    key0 = f"(customer_id, updated_at)=({v1['customer_id']}, 1970-01-01 00:00:00.0005+00)"
    assert (result.written, _found(result)) == ({"customers": 0}, [(1, key0, ("age",))])
    assert select(database_url, db_schema, "SELECT name FROM customers") == [("Renamed",)]
    writer.close()


@pytest.mark.integration
def test_a_refused_row_and_a_conflict_in_one_load_are_both_named(database_url: str, db_schema: str) -> None:
    txns = _transactions(9, 400)
    spec = TABLES["transaction"]
    writer = CopyWriter(database_url, db_schema)
    _write(writer, "transaction", txns[:100])
    good = rows_from_records(spec, [*txns[:200], {**txns[50], "channel": "ATM"}, *txns[200:400]])
    bad = rows_from_records(spec, [{**txns[0], "transaction_id": "X" * 8}])
    corrupt = CopyRows(bad.data.replace(b"XXXXXXXX", b"\xff\xfeXXXXXX"), bad.offsets)  # invalid UTF-8
    result = writer.write([TableLoad(spec, CopyRows.concat([good.slice(0, 250), corrupt, good.slice(250, 401)]))])
    assert result.written == {"transactions": 300}
    assert [(r.row, r.error_class) for r in result.rejected] == [(250, "CharacterNotInRepertoire")]
    assert _found(result) == [(200, f"(transaction_id)=({txns[50]['transaction_id']})", ("channel",))]
    writer.close()


def _scored(i: int) -> dict[str, Any]:
    features = {name: 0 for name in ("txn_count_5m", "txn_count_1h", "txn_count_24h", "amount_sum_1h_paise",
                                     "amount_sum_24h_paise", "distinct_merchants_1h", "distinct_devices_24h",
                                     "distinct_cities_24h", "declines_1h", "small_txns_1h", "hour_of_day")}
    features.update({"amount_zscore": 0.1 * i, "seconds_since_prev": None, "km_from_prev": None,
                     "speed_kmh_from_prev": None, "km_from_home": 2.5, "is_new_device": False,
                     "is_new_merchant": True, "is_night": False, "is_weekend": True, "merchant_fraud_rate": 0.01})
    return {"transaction_id": f"T{i}", "customer_id": "C1", "event_time": 1_700_000_000_000_000 + i,
            "amount_paise": 10_000, "features": features, "score": 0.25, "model_version": "m-1",
            "processed_at": 1_700_000_100_000_000, "processing_latency_ms": 3.5}


# -- the sink end to end ----------------------------------------------------------------------------


def _as_records(values: list[dict[str, Any]], schema: str, timestamps: list[int]) -> Records:
    return Records([v["customer_id"].encode() for v in values], [encode(schema, v) for v in values], timestamps)


@pytest.mark.integration
def test_a_conflicting_duplicate_reaches_the_dead_letter_topic_and_a_replay_stays_silent(rig: Any,
                                                                                        stream: Any) -> None:
    n = 2_000
    rig.produce("transactions", stream.transactions.slice(0, n))
    rig.produce("labels", stream.labels.slice(0, n))
    sink = rig.start_sink("--topics", "transactions,labels")
    try:
        assert rig.wait_until(lambda: rig.counts("transactions")[0] == n and rig.counts("labels")[0] == n, 60)

        # identical replays: skipped, counted as duplicates, nothing dead-lettered
        rig.produce("transactions", stream.transactions.slice(0, 1_000))
        rig.produce("labels", stream.labels.slice(0, 500))
        assert rig.wait_until(lambda: rig.metric("synfin_sink_rows_duplicate_total", table="transactions") == 1_000
                              and rig.metric("synfin_sink_rows_duplicate_total", table="labels") == 500, 60)
        assert rig.metric("synfin_sink_conflicts_total", table="transactions") == 0
        assert rig.metric("synfin_sink_conflicts_total", table="labels") == 0

        # another run's records under stored keys, and a new transaction id twice with different content
        txns = [decode(v) for v in stream.transactions.values[: n + 1]]
        labels = [decode(v) for v in stream.labels.values[:n]]
        changed = [{**txns[i], "amount_paise": txns[i]["amount_paise"] + 100} for i in (3, 30, 300)]
        changed += [{**txns[i], "device_id": "D-other"} for i in (4, 40)]
        twice = [txns[n], {**txns[n], "merchant_id": None, "payee_vpa": "someone@okaxis"}]
        flipped = [{**labels[i], "is_fraud": not labels[i]["is_fraud"], "fraud_type": None if labels[i]["is_fraud"]
                    else "stolen_card"} for i in (5, 50, 500)]
        revised = {**labels[6], "revision": 1, "is_fraud": True, "fraud_type": "friendly_fraud"}
        produced = {"transactions": changed + twice, "labels": [*flipped, revised]}
        positions = {}
        for logical, values in produced.items():
            schema = "transaction" if logical == "transactions" else "label"
            records = _as_records(values, schema, [v["event_time"] // 1000 for v in values])
            for value, position in zip(records.values, rig.produce(logical, records), strict=True):
                positions[value] = (rig.topics[logical], *position)

        expected = {"transactions": 5 + 1, "labels": 3}
        assert rig.wait_until(lambda: len(rig.dead_letters()) == sum(expected.values()), 60), rig.dead_letters()
        assert rig.wait_until(lambda: all(rig.metric("synfin_sink_conflicts_total", table=table) == count
                                          for table, count in expected.items()), 30)
        assert rig.metric("synfin_sink_dlq_records_total", error_class="ConflictingDuplicate") == sum(
            expected.values())
        assert rig.metric("synfin_sink_rows_duplicate_total", table="transactions") == 1_000
    finally:
        sink.send_signal(signal.SIGTERM)
        out, _ = sink.communicate(timeout=60)
    assert sink.returncode == 0, out

    # the database kept the first records, plus the new transaction id (once) and the new revision
    assert rig.counts("transactions") == (n + 1, n + 1)
    assert rig.query("SELECT count(*), count(DISTINCT (transaction_id, revision)) FROM labels") == [(n + 1, n + 1)]
    kept = dict(rig.query("SELECT transaction_id, amount_paise FROM transactions WHERE transaction_id IN "
                          f"({', '.join(repr(txns[i]['transaction_id']) for i in (3, 30, 300))})"))
    assert kept == {txns[i]["transaction_id"]: txns[i]["amount_paise"] for i in (3, 30, 300)}
    assert rig.query("SELECT is_fraud, label_revision FROM transactions_labelled WHERE transaction_id IN "
                     f"('{labels[5]['transaction_id']}', '{labels[6]['transaction_id']}') ORDER BY label_revision"
                     ) == [(labels[5]["is_fraud"], 0), (True, 1)]
    (vpa,), = rig.query(f"SELECT payee_vpa FROM transactions WHERE transaction_id = '{txns[n]['transaction_id']}'")
    stored, refused = twice if vpa == twice[0]["payee_vpa"] else twice[::-1]
    assert vpa == stored["payee_vpa"]

    # each refused record is on the dead-letter topic, as it was consumed, with its reason and source
    letters = rig.dead_letters()
    assert len(letters) == sum(expected.values())
    assert {value for _, value, _ in letters} == {
        *(encode("transaction", v) for v in (*changed, refused)), *(encode("label", v) for v in flipped)}
    for key, value, headers in letters:
        topic, partition, offset = positions[value]
        record = decode(value)
        table = "transactions" if topic == rig.topics["transactions"] else "labels"
        ident = (f"(transaction_id)=({record['transaction_id']})" if table == "transactions"
                 else f"(transaction_id, revision)=({record['transaction_id']}, 0)")
        assert key == record["customer_id"].encode()
        assert headers["synfin-error-class"] == b"ConflictingDuplicate"
        assert headers["synfin-error-message"].decode().startswith(f"conflicting duplicate of {table} key {ident}: ")
        assert (headers["synfin-source-topic"], headers["synfin-source-partition"], headers["synfin-source-offset"]
                ) == (topic.encode(), str(partition).encode(), str(offset).encode())
