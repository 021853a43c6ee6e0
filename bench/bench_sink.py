"""Benchmark: the PostgreSQL sink end to end, next to the raw ceilings measured in the same run.

Run: ``python bench/bench_sink.py [--events 200000] [--repeat 3]``. Starts its own local stack (Kafka +
PostgreSQL in a temporary directory), puts ``--events`` transactions and their labels on 6-partition
topics, then, per repeat, with a fresh database schema each time:

* sink, 1 process: ``synfinance sink`` draining the backlog (consume + decode + COPY + upsert + commit),
  rows/s from its assignment to the moment its metrics count every row written (both tables); with
  the default 2 connections (two batches in flight), and with ``--connections 1``;
* sink, 2 processes in one group: the same backlog shared; aggregate rows/s and each process's share;
* database side of the sink alone: the same batches pre-decoded to binary COPY rows, written by one
  ``CopyWriter`` (binary COPY straight into the table, staging + ON CONFLICT on replays), no Kafka; and
  by two, two batches at a time; then, by the one, the same batches again (an identical replay: the
  staging path, where stored rows are compared with the records to tell replays from conflicts);
* (a) raw COPY of the same rows from Python tuples (text COPY built in Python, straight into tables of
  the same shape and indexes, no staging, no conflict handling);
* (b) SQLAlchemy ORM inserts (``Session.add_all``, commit per 1,000) of ``--orm-rows`` rows;
* decoding alone: ``schemas.codec.decode`` per record vs ``BatchDecoder``.

Prints the median of each and the ratios.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.orm import Session, registry

from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode
from synfinance.sinks import database
from synfinance.sinks.copy_writer import CopyWriter, TableLoad
from synfinance.sinks.schema import labels as labels_table
from synfinance.sinks.schema import transactions as transactions_table
from synfinance.sinks.tables import TABLES, rows_from_batch
from synfinance.stack.launcher import LocalStack
from synfinance.stack.processes import free_port

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 6
BATCH = 20_000


def generate(events: int, customers: int, merchants: int) -> dict[str, tuple[list[bytes], list[bytes], list[int]]]:
    stream = TransactionStream(StreamConfig(seed=42, customers=customers, merchants=merchants))
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(events))
    keys = [stream.world.customers.ids[k].encode() for k in batch.customer.tolist()]
    return {"transactions": (keys, encoder.encode_transactions(batch), (batch.time_us // 1000).tolist()),
            "labels": (keys, encoder.encode_labels(batch),
                       ((batch.time_us + batch.label_delay_us) // 1000).tolist())}


def put_on_topics(bootstrap: str, data: dict[str, tuple[list[bytes], list[bytes], list[int]]],
                  tag: str) -> dict[str, str]:
    topics = {name: f"bench.{name}.{tag}" for name in ("transactions", "labels", "dlq")}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # simulated event times are months old: time-based retention would delete them
    new = [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1, config={"retention.ms": "-1"})
           for t in topics.values()]
    for future in admin.create_topics(new).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 20, "compression.type": "lz4"})
    for name in ("transactions", "labels"):
        keys, values, stamps = data[name]
        for i, (key, value, ts) in enumerate(zip(keys, values, stamps, strict=True)):
            while True:
                try:
                    producer.produce(topics[name], key=key, value=value, timestamp=ts)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 10_000 == 0:
                producer.poll(0)
    assert producer.flush(120) == 0
    return topics


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            body = response.read().decode()
    except (OSError, http.client.HTTPException):  # not up yet, or already gone
        return {}
    out: dict[str, float] = {}
    for line in body.splitlines():
        for name in ("synfin_sink_assigned_partitions", "synfin_sink_rows_written_total"):
            if line.startswith(name):
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def run_sinks(processes: int, env: dict[str, str], group: str, db_schema: str, expected: int,
              connections: int = 2) -> tuple[float, list[int]]:
    """rows/s of ``processes`` sinks in one group draining the backlog, and the rows each one wrote.

    Measured from the moment every process owns partitions (after the group's rebalance) to the moment
    their metrics count every row written; rows written before that moment are not counted.
    """
    ports = [free_port() for _ in range(processes)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "synfinance.cli", "sink", "--group", group, "--schema", db_schema, "--topics",
         "transactions,labels", "--batch-size", str(BATCH), "--connections", str(connections),
         "--metrics-port", str(port), "--no-lag",
         "--stop-when-idle", "2"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for port in ports]
    start: tuple[float, list[float]] | None = None
    end: tuple[float, list[float]] | None = None
    rows = [0.0] * processes  # last value seen: a process that finished its share may already be gone
    deadline = time.monotonic() + 600
    while end is None and time.monotonic() < deadline and any(p.poll() is None for p in procs):
        now = time.monotonic()
        scraped = [_scrape(port) for port in ports]
        rows = [max(old, s.get("synfin_sink_rows_written_total", 0.0)) for old, s in zip(rows, scraped, strict=True)]
        # from the first assignment: with two processes the first may drain much before the rebalance ends
        if start is None and any(s.get("synfin_sink_assigned_partitions", 0) > 0 for s in scraped):
            start = (now, list(rows))
        if start is not None and sum(rows) >= expected:
            end = (now, list(rows))
        time.sleep(0.05)
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"sink failed:\n{out}")
    if start is None or end is None:
        raise RuntimeError("the sinks did not write every row in time")
    shares = [int(e - s) for s, e in zip(start[1], end[1], strict=True)]
    return sum(shares) / max(end[0] - start[0], 1e-3), shares


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(value)


def python_rows(table: str, values: list[bytes]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The records as tuples of Python values in table column order (timestamps as datetimes)."""
    spec = next(s for s in TABLES.values() if s.name == table)
    columns = [c.name for c in spec.columns]
    stamps = {c.name for c in spec.columns if c.pg.name == "TIMESTAMPTZ"}
    rows = []
    for value in values:
        record = {**decode(value), **{c.name: None for c in spec.columns if c.header is not None}}  # no headers
        rows.append(tuple(datetime.fromtimestamp(record[c] / 1e6, UTC) if c in stamps else record[c]
                          for c in columns))
    return columns, rows


def raw_copy(dsn: str, db_schema: str, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> float:
    """(a) rows/s: text COPY built from Python tuples, into same-shaped tables, BATCH rows per transaction."""
    connection = database.connect(dsn, db_schema)
    cursor = connection.cursor()
    total, seconds = 0, 0.0
    for table, (columns, rows) in tables.items():
        cursor.execute(f"CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)")
        connection.commit()
        started = time.perf_counter()
        for lo in range(0, len(rows), BATCH):
            buffer = io.StringIO("".join("\t".join(map(_copy_text, row)) + "\n" for row in rows[lo:lo + BATCH]))
            cursor.copy_expert(f"COPY raw_{table} ({', '.join(columns)}) FROM STDIN", buffer, size=1 << 20)
            connection.commit()
        seconds += time.perf_counter() - started
        total += len(rows)
    connection.close()
    return total / seconds


def orm_inserts(dsn: str, db_schema: str, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
                rows_each: int) -> float:
    """(b) rows/s: SQLAlchemy ORM objects, Session.add_all, commit per 1,000."""
    mapper = registry()

    class Transaction:
        pass

    class Label:
        pass

    mapper.map_imperatively(Transaction, transactions_table)
    mapper.map_imperatively(Label, labels_table)
    engine = database.engine(dsn, db_schema)
    total, seconds = 0, 0.0
    for cls, table in ((Transaction, "transactions"), (Label, "labels")):
        columns, rows = tables[table]
        chosen = rows[:rows_each]
        started = time.perf_counter()
        with Session(engine) as session:
            for lo in range(0, len(chosen), 1000):
                objects = []
                for row in chosen[lo:lo + 1000]:
                    obj = cls()
                    for column, value in zip(columns, row, strict=True):
                        setattr(obj, column, value)
                    objects.append(obj)
                session.add_all(objects)
                session.commit()
        seconds += time.perf_counter() - started
        total += len(chosen)
    engine.dispose()
    mapper.dispose()
    return total / seconds


def database_side(dsn: str, db_schema: str, data: dict[str, tuple[list[bytes], list[bytes], list[int]]],
                  connections: int = 1, replay: bool = False) -> tuple[float, float | None]:
    """rows/s of the sink's write path alone: pre-built binary COPY rows through CopyWriter(s), each
    batch one transaction, ``connections`` batches at a time; and with ``replay``, rows/s of the same
    batches written again (the first writer, one at a time)."""
    batches = []
    for lo in range(0, len(data["transactions"][1]), BATCH):
        loads = []
        for name, schema_name in (("transactions", "transaction"), ("labels", "label")):
            spec = TABLES[schema_name]
            decoder = spec.batch_decoder()
            assert decoder is not None
            decoded = decoder.decode(data[name][1][lo:lo + BATCH])
            loads.append(TableLoad(spec, rows_from_batch(spec, decoded, np.flatnonzero(decoded.ok))))
        batches.append(loads)
    writers = [CopyWriter(dsn, db_schema) for _ in range(connections)]
    todo = iter(batches)
    lock = threading.Lock()
    written = [0] * connections

    def work(i: int) -> None:
        while True:
            with lock:
                loads = next(todo, None)
            if loads is None:
                return
            written[i] += sum(writers[i].write(loads).written.values())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    replayed = None
    if replay:
        started = time.perf_counter()
        again = sum(sum(writers[0].write(loads).staged.values()) for loads in batches)
        replayed = again / (time.perf_counter() - started)
    for writer in writers:
        writer.close()
    return sum(written) / seconds, replayed


def decode_rates(values: list[bytes]) -> tuple[float, float]:
    decoder = TABLES["transaction"].batch_decoder()
    assert decoder is not None
    sample = values[:50_000]
    started = time.perf_counter()
    for value in sample:
        decode(value)
    per_record = len(sample) / (time.perf_counter() - started)
    started = time.perf_counter()
    for lo in range(0, len(sample), BATCH):
        decoder.decode(sample[lo:lo + BATCH])
    return per_record, len(sample) / (time.perf_counter() - started)


def _timed(label: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"  {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="transactions (each with a label)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--merchants", type=int, default=2_000)
    parser.add_argument("--orm-rows", type=int, default=10_000, help="rows per table for the ORM baseline")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    stack = LocalStack(state_dir)
    state = stack.up()
    assert state.kafka is not None and state.postgres is not None
    bootstrap, dsn = state.kafka.bootstrap, state.postgres.url
    try:
        data = _timed("generate", lambda: generate(args.events, args.customers, args.merchants))
        topics = _timed("produce", lambda: put_on_topics(bootstrap, data, "run"))
        tuples = _timed("decode to tuples", lambda: {t: python_rows(t, data[t][1]) for t in ("transactions", "labels")})
        env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": bootstrap, "SYNFIN_DATABASE_URL": dsn,
               **{f"SYNFIN_TOPICS__{name.upper()}": topic for name, topic in topics.items()}}
        expected = 2 * args.events
        results: dict[str, list[float]] = {k: [] for k in ("one", "one_c1", "two", "db", "db2", "replay", "raw",
                                                           "orm", "codec", "batch")}
        shares: list[list[int]] = []
        for r in range(args.repeat):
            schemas = {k: f"bench_{k}_{r}" for k in ("one", "one_c1", "two", "db", "db2", "raw", "orm")}
            for name in schemas.values():
                engine = database.engine(dsn, name)
                database.upgrade(engine, name)
                engine.dispose()
            rate, _ = run_sinks(1, env, f"bench-one-{r}", schemas["one"], expected)
            results["one"].append(rate)
            rate, _ = run_sinks(1, env, f"bench-one-c1-{r}", schemas["one_c1"], expected, connections=1)
            results["one_c1"].append(rate)
            rate, share = run_sinks(2, env, f"bench-two-{r}", schemas["two"], expected)
            results["two"].append(rate)
            shares.append(share)
            fresh, replayed = database_side(dsn, schemas["db"], data, replay=True)
            results["db"].append(fresh)
            results["replay"].append(replayed or 0.0)
            results["db2"].append(database_side(dsn, schemas["db2"], data, connections=2)[0])
            results["raw"].append(raw_copy(dsn, schemas["raw"], tuples))
            results["orm"].append(orm_inserts(dsn, schemas["orm"], tuples, args.orm_rows))
            codec_rate, batch_rate = decode_rates(data["transactions"][1])
            results["codec"].append(codec_rate)
            results["batch"].append(batch_rate)
            engine = database.engine(dsn)
            with engine.begin() as connection:
                for name in schemas.values():
                    connection.execute(text(f"DROP SCHEMA {name} CASCADE"))
            engine.dispose()
            print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()), file=sys.stderr)
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    runs = {k: ", ".join(f"{x:,.0f}" for x in v) for k, v in results.items()}
    print(f"Sink benchmark: {args.events:,} transactions + {args.events:,} labels = {expected:,} rows, "
          f"{PARTITIONS} partitions, batches of {BATCH:,}; median of {args.repeat} (runs)")
    rows = [
        ("sink, 1 process (consume+decode+COPY+upsert+commit)", "one"),
        ("sink, 1 process, --connections 1 (no concurrent batches)", "one_c1"),
        ("sink, 2 processes in one group (aggregate)", "two"),
        ("sink write path alone, 1 connection (binary COPY, idempotent)", "db"),
        ("sink write path alone, 2 connections", "db2"),
        ("sink write path alone, identical replay (staging, compared)", "replay"),
        ("(a) raw COPY from Python tuples (text, no staging)", "raw"),
        ("(b) SQLAlchemy ORM add_all, commit per 1,000", "orm"),
        ("decode Transaction: schemas.codec.decode per record", "codec"),
        ("decode Transaction: BatchDecoder, batches of 20,000", "batch"),
    ]
    for label, key in rows:
        print(f"  {label:<64} {med[key]:>10,.0f} rows/s   ({runs[key]})")
    print(f"  sink 1 process / raw COPY = {med['one'] / med['raw']:.2f};  / ORM = {med['one'] / med['orm']:.1f}x;"
          f"  / its own write path = {med['one'] / med['db']:.2f}")
    print(f"  2 processes / 1 process = {med['two'] / med['one']:.2f};  rows written by each process, per run: "
          + "; ".join(" + ".join(f"{n:,}" for n in s) for s in shares))


if __name__ == "__main__":
    main()
