"""The determinism contract (SPEC §5): same seed and config, same bytes — whatever else changes."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from producers.events import EventColumns
from producers.files import read_avro
from producers.records import RecordEncoder
from producers.seeding import GENERATOR_VERSION
from producers.stream import StreamConfig, TransactionStream
from schemas.codec import single_object_prefix

FILES = ("customers.avro", "merchants.avro", "transactions.avro", "labels.avro")


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
    assert len(read_avro(runs[0] / "labels.avro")) == 30_000
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


def test_a_customers_transactions_do_not_depend_on_how_many_customers_exist() -> None:
    # legitimate traffic and anomalies are per customer; fraud victims are drawn population-wide
    small = _per_customer(StreamConfig(seed=3, customers=300, merchants=200, fraud_rate=0.0), blocks=2, customers=300)
    large = _per_customer(StreamConfig(seed=3, customers=900, merchants=200, fraud_rate=0.0), blocks=2, customers=300)
    assert sum(len(v) for v in small.values()) > 5_000
    assert small == large


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
    assert len((tmp_path / "labels.csv").read_text().splitlines()) == 2_001


def test_the_stream_is_the_one_this_generator_version_has_always_made() -> None:
    """A pinned digest of 40,000 encoded Transaction and Label records: a change that alters any byte
    (an optimisation that reorders a draw, say) fails here and must bump GENERATOR_VERSION instead."""
    stream = TransactionStream(StreamConfig(seed=42, customers=3_000, merchants=500, start="2026-01-01T00:00:00Z"))
    encoder = RecordEncoder(stream.world, single_object_prefix("transaction"), single_object_prefix("label"))
    batch = next(stream.batches(40_000))
    digest = hashlib.sha256()
    for value in [*encoder.encode_transactions(batch), *encoder.encode_labels(batch)]:
        digest.update(value)
    assert GENERATOR_VERSION == 2
    assert digest.hexdigest() == "b097de011524bc3db4afb2e25e3dfc00822f6ea4b2ffcefcc302529411a3e003"
