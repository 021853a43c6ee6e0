"""The determinism contract (SPEC §5): same seed and config, same bytes — whatever else changes."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from synfinance.producers.events import PAYMENT_MODES, UPI, EventColumns
from synfinance.producers.files import read_avro
from synfinance.producers.records import RecordEncoder
from synfinance.producers.seeding import GENERATOR_VERSION
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode, single_object_prefix

FILES = ("customers.avro", "merchants.avro", "transactions.avro", "labels.avro")


def revised_among_first(events: int, config: StreamConfig) -> int:
    """How many of the stream's first `events` transactions get a revision label (a chargeback)."""
    return int((next(TransactionStream(config).batches(events)).revision_delay_us >= 0).sum())


def generate(out_dir: Path, hash_seed: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [sys.executable, "-m", "synfinance.cli", "generate", "--seed", "11", "--events", "30000",
         "--customers", "2000", "--merchants", "400", "--out-dir", str(out_dir), "--quiet", *extra],
        env=env, capture_output=True, text=True, timeout=300)


def test_same_command_twice_and_another_hash_seed_give_identical_files(tmp_path: Path) -> None:
    runs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for out_dir, hash_seed in zip(runs, ("0", "0", "12345"), strict=True):
        result = generate(out_dir, hash_seed)
        assert result.returncode == 0, result.stderr
    for name in FILES:
        first = (runs[0] / name).read_bytes()
        assert first == (runs[1] / name).read_bytes(), name
        assert first == (runs[2] / name).read_bytes(), name
    records = read_avro(runs[0] / "transactions.avro")
    assert len(records) == 30_000
    # every transaction's first label, in transaction order, and a revision for each one charged back
    labels = read_avro(runs[0] / "labels.avro")
    first = [label for label in labels if label["revision"] == 0]
    revisions = [label for label in labels if label["revision"] == 1]
    assert [label["transaction_id"] for label in first] == [t["transaction_id"] for t in records]
    revised = revised_among_first(30_000, StreamConfig(seed=11, customers=2_000, merchants=400))
    assert len(revisions) == revised > 50 and len(labels) == 30_000 + revised
    assert all(label["is_fraud"] for label in revisions)
    assert not any(label["is_fraud"] for label in first if label["transaction_id"] in
                   {r["transaction_id"] for r in revisions})
    assert len(read_avro(runs[0] / "customers.avro")) == 2_000
    other_seed = tmp_path / "d"
    assert generate(other_seed, "0", "--seed", "12").returncode == 0
    assert (other_seed / "transactions.avro").read_bytes() != (runs[0] / "transactions.avro").read_bytes()


def _per_customer(config: StreamConfig, blocks: int, customers: int) -> dict[str, list[bytes]]:
    stream = TransactionStream(config)
    encoder = RecordEncoder(stream.world)
    out: dict[str, list[bytes]] = defaultdict(list)
    for block in itertools.islice(stream.blocks(), blocks):
        block = block.take((block.customer < customers).nonzero()[0])
        for customer, data in zip(block.customer.tolist(), encoder.encode_transactions(block), strict=True):
            out[f"C{customer}"].append(data)
    return out


NEW_PAYEE = "a payee the customer never paid before"


def _histories(config: StreamConfig, blocks: int, customers: int) -> tuple[dict[int, list[dict[str, object]]],
                                                                          list[str]]:
    """Each of the first `customers` customers' transactions, decoded, with every id written without the stream
    id: devices as the customer's device slot, their own VPA as such, a merchant's VPA as its merchant's, a
    P2P payee as the slot among the customer's contacts (or NEW_PAYEE); and the new payees' VPAs in order,
    without their tag and stream id (first.last@handle)."""
    stream = TransactionStream(config)
    world, sid = stream.world, config.stream_id
    c, m = world.customers, world.merchants
    device_row = {device: row for row, device in enumerate(c.device_ids)}
    merchant_row = {merchant: row for row, merchant in enumerate(m.ids)}
    encoder = RecordEncoder(world)
    out: dict[int, list[dict[str, object]]] = defaultdict(list)
    new_payees: list[str] = []
    for block in itertools.islice(stream.blocks(), blocks):
        block = block.take((block.customer < customers).nonzero()[0])
        for k, data in zip(block.customer.tolist(), encoder.encode_transactions(block), strict=True):
            r = decode(data)
            if r["device_id"] is not None:
                r["device_id"] = device_row[r["device_id"]] - int(c.device_start[k])
            if r["payer_vpa"] is not None:
                assert r["payer_vpa"] == c.instrument_vpa[k * len(PAYMENT_MODES) + UPI]
                r["payer_vpa"] = "own"
            if r["merchant_id"] is not None:
                assert r["payee_vpa"] in (None, m.vpa[merchant_row[r["merchant_id"]]])
                r["payee_vpa"] = r["payee_vpa"] and "the merchant's"
            elif r["payee_vpa"] is not None:
                contacts = c.payee_vpas[int(c.payee_start[k]):int(c.payee_start[k] + c.payee_count[k])]
                if r["payee_vpa"] not in contacts:
                    new_payees.append(re.sub(rf"\.[0-9a-f]{{8}}{sid.lower()}@", "@", r["payee_vpa"]))
                r["payee_vpa"] = contacts.index(r["payee_vpa"]) if r["payee_vpa"] in contacts else NEW_PAYEE
            out[k].append({name: value.replace(sid, "~") if isinstance(value, str) else value
                           for name, value in r.items()})
    return out, new_payees


def test_a_customers_transactions_do_not_depend_on_how_many_customers_exist() -> None:
    """Legitimate traffic and anomalies are per customer: customer k's history is the same in a population of
    300 and of 900, but for the stream id in its ids (--customers is part of it) and for whom a P2P transfer
    to a new payee goes to (someone of the whole population)."""
    small, small_new = _histories(StreamConfig(seed=3, customers=300, merchants=200, fraud_rate=0.0), blocks=2,
                                  customers=300)
    large, large_new = _histories(StreamConfig(seed=3, customers=900, merchants=200, fraud_rate=0.0), blocks=2,
                                  customers=300)
    assert sum(len(v) for v in small.values()) > 5_000
    assert small.keys() == large.keys()
    new_payees = 0
    for k, history in small.items():
        assert len(history) == len(large[k]), k
        for a, b in zip(history, large[k], strict=True):
            if a["payee_vpa"] == NEW_PAYEE:
                assert b["payee_vpa"] == NEW_PAYEE
                new_payees += 1
            assert a == b, (k, {name: (a[name], b[name]) for name in a if a[name] != b[name]})
    assert new_payees == len(small_new) == len(large_new) > 100
    # ... to other people: they are picked from the whole population
    assert sum(a == b for a, b in zip(small_new, large_new, strict=True)) < 0.1 * new_payees
    assert all("@" in v and "." in v.split("@")[0] for v in small_new + large_new)


@pytest.mark.parametrize("events", [1, 999, 5_000, 23_456])
def test_each_shard_is_the_unsharded_stream_in_order_and_its_share_ends_where_the_first_n_do(events: int) -> None:
    """A shard's stream is the unsharded one without the other shards' customers, in the same order: so the first
    `shard_share(N)` events of every shard are exactly the unsharded stream's first N, and the shares sum to N."""
    base = StreamConfig(seed=5, customers=400, merchants=100)
    whole = next(TransactionStream(base).batches(events))
    shares = []
    for index in range(3):
        stream = TransactionStream(dataclasses.replace(base, shard=(index, 3)))
        share = stream.shard_share(events)
        mine = (whole.customer % 3 == index).nonzero()[0]
        assert share == len(mine)
        if share:
            head = next(stream.batches(share))
            assert head.customer.tolist() == whole.customer[mine].tolist()
            assert head.time_us.tolist() == whole.time_us[mine].tolist()
            assert head.amount_paise.tolist() == whole.amount_paise[mine].tolist()
        shares.append(share)
    assert sum(shares) == events
    if events > 100:
        assert min(shares) > 0


def test_shards_together_are_the_unsharded_stream() -> None:
    whole = _per_customer(StreamConfig(seed=5, customers=400, merchants=100), blocks=2, customers=400)
    parts: dict[str, list[bytes]] = {}
    for index in range(3):
        shard = _per_customer(StreamConfig(seed=5, customers=400, merchants=100, shard=(index, 3)),
                              blocks=2, customers=400)
        assert not set(shard) & set(parts)
        parts.update(shard)
    assert parts == whole


def test_skip_resumes_exactly_where_a_run_stopped() -> None:
    config = StreamConfig(seed=9, customers=500, merchants=100)
    full = next(TransactionStream(config).batches(12_000))
    resumed = next(TransactionStream(config).batches(5_000, skip=7_000))
    assert resumed.time_us.tolist() == full.time_us[7_000:].tolist()
    assert resumed.seq.tolist() == full.seq[7_000:].tolist()
    assert resumed.customer.tolist() == full.customer[7_000:].tolist()


def test_batches_cover_the_stream_without_gaps() -> None:
    config = StreamConfig(seed=9, customers=500, merchants=100)
    one = next(TransactionStream(config).batches(9_000))
    many = EventColumns.concat(list(itertools.islice(TransactionStream(config).batches(1_000), 9)))
    assert many.time_us.tolist() == one.time_us.tolist()
    assert many.amount_paise.tolist() == one.amount_paise.tolist()


@pytest.mark.parametrize(("args", "message"), [
    (["--events", "-1"], "--events must be >= 0 (got -1)"),
    (["--format", "xml"], "--format 'xml' is not one of: avro, csv, parquet"),
    (["--customers", "0"], "--customers must be between 1 and 2,000,000"),
    (["--start", "yesterday"], "--start 'yesterday' is not an ISO date or datetime (e.g. 2025-10-01)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", "generate", "--out-dir", str(tmp_path), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"synfinance: error: {message}"]


def test_unwritable_out_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", "generate", "--out-dir", str(blocker / "x")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"synfinance: error: --out-dir {blocker / 'x'} is not a writable")


def test_csv_has_the_same_records(tmp_path: Path) -> None:
    result = generate(tmp_path, "0", "--format", "csv", "--events", "2000")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "transactions.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2_001
    assert lines[0].startswith("transaction_id,event_time,customer_id,merchant_id")
    labels = (tmp_path / "labels.csv").read_text().splitlines()
    revised = revised_among_first(2_000, StreamConfig(seed=11, customers=2_000, merchants=400))
    assert len(labels) == 2_001 + revised and revised > 0
    assert labels[0].endswith(",label_time,revision")
    assert [line.rsplit(",", 1)[1] for line in labels[1:]] == ["0"] * 2_000 + ["1"] * revised


def test_the_stream_is_the_one_this_generator_version_has_always_made() -> None:
    """A pinned digest of 40,000 encoded Transactions, their first Labels and the revisions: a change that
    alters any byte (an optimisation that reorders a draw, say) fails here and must bump GENERATOR_VERSION."""
    stream = TransactionStream(StreamConfig(seed=42, customers=3_000, merchants=500, start="2026-01-01T00:00:00Z"))
    encoder = RecordEncoder(stream.world, single_object_prefix("transaction"), single_object_prefix("label"))
    batch = next(stream.batches(40_000))
    digest = hashlib.sha256()
    revised, revisions = encoder.encode_revisions(batch)
    assert len(revised) > 100
    for value in [*encoder.encode_transactions(batch), *encoder.encode_labels(batch), *revisions]:
        digest.update(value)
    assert GENERATOR_VERSION == 6
    assert digest.hexdigest() == "b8f09bf9456fc491823f3e103900413c96c9be85a049f0c5ae16afee706b2715"
