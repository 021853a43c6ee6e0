"""Benchmark: generation + Avro encoding rate of the real generator, next to fastavro per record.

Run: ``.venv/bin/python bench/bench_generate.py [--events 1000000] [--repeat 3]``. One process, default
world (10,000 customers, 2,000 merchants). Prints, in one run and as the median of ``--repeat``:
(a) generation only, (b) generation + column-wise encoding of the Transaction records, (c) the same
plus the Label records, and (d) fastavro ``schemaless_writer`` encoding the same Transaction records one
at a time (schema parsed once) — the per-record path the column-wise encoder replaces.
Rates are steady state: timing starts after the first batch, whose one-off costs (creating 10,000
per-customer generators, encoding the vocabularies) are about 0.6 s per run.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time

import fastavro

from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.schemas.codec import decode, load_schema

BATCH = 20_000


def run(world: World, config: StreamConfig, events: int, encode: bool, labels: bool) -> float:
    stream = TransactionStream(config, world)
    encoder = RecordEncoder(world)
    batches = stream.batches(BATCH)
    # steady state: the first batch pays one-off costs (per-customer generators, vocabulary encoding)
    first = next(batches)
    encoder.encode_transactions(first)
    encoder.encode_labels(first)
    done = 0
    started = time.perf_counter()
    for batch in batches:
        if encode:
            encoder.encode_transactions(batch)
        if labels:
            encoder.encode_labels(batch)
        done += len(batch)
        if done >= events:
            break
    return done / (time.perf_counter() - started)


def fastavro_rate(world: World, config: StreamConfig, records: int) -> float:
    batch = next(TransactionStream(config, world).batches(records))
    dicts = [decode(r) for r in RecordEncoder(world).encode_transactions(batch)]
    schema = load_schema("transaction")
    started = time.perf_counter()
    for record in dicts:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, record)
        out.getvalue()
    return len(dicts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = StreamConfig(seed=42)
    started = time.perf_counter()
    world = World(config)
    print(f"world: 10,000 customers + 2,000 merchants built in {time.perf_counter() - started:.1f} s")
    rows = {
        "(a) generation only": lambda: run(world, config, args.events, False, False),
        "(b) generation + Transaction encoding": lambda: run(world, config, args.events, True, False),
        "(c) generation + Transaction + Label encoding": lambda: run(world, config, args.events, True, True),
        "(d) fastavro schemaless_writer per record (Transaction)": lambda: fastavro_rate(world, config, 100_000),
    }
    print(f"python {platform.python_version()}, {args.events:,} events, median of {args.repeat}")
    print("| path | events/s (median) | runs |")
    print("|---|---|---|")
    results = {}
    for name, measure in rows.items():
        rates = [measure() for _ in range(args.repeat)]
        results[name] = statistics.median(rates)
        print(f"| {name} | {results[name]:,.0f} | {', '.join(f'{r:,.0f}' for r in rates)} |", flush=True)
    ratio = results["(b) generation + Transaction encoding"] / results[
        "(d) fastavro schemaless_writer per record (Transaction)"]
    print(f"(b) / (d) = {ratio:.1f}x")


if __name__ == "__main__":
    main()
