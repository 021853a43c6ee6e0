"""Benchmark: what registry framing (Confluent ``00`` + id) costs against single-object framing.

Run: ``python bench/bench_framing.py [--repeat 41] [--chunks 10] [--e2e --runs 5 --events 300000]``.

(a) Encoding, in this process: the same generated chunks (``GENERATION_BATCH`` events each, default
    world) are encoded column-wise into Transaction + Label records by two ``RecordEncoder``s that
    differ only in the framing prefix (single-object ``C3 01`` + fingerprint, Confluent ``00`` + a
    4-byte id). The two alternate chunk by chunk (A B, then B A), so load from other processes falls on
    both alike, and each encoding is timed twice: on the wall clock and in this thread's CPU time (which
    does not count the time other processes hold the core). Reported per repetition (all chunks) as
    medians and quartiles, and as the median of the per-chunk ratios. The bodies are checked
    byte-identical first.
(b) ``--e2e``: ``synfinance produce --profile max --quiet --events N`` as a subprocess, alternating
    single-object and registry framing run by run (A B B A A B ...; a warm-up pair first, not counted)
    against one broker and one registry: ``SYNFIN_BOOTSTRAP_SERVERS`` and ``SYNFIN_SCHEMA_REGISTRY_URL``
    if both are set, else a local stack (Kafka + Apicurio) started in a temporary directory and stopped
    at the end. Every run writes fresh topics (deleted afterwards); the rate is the one ``produce``
    prints (transactions over its streaming time), and beside it the CPU seconds the produce process
    and its generator child used (user + system, from ``wait4``), which load from others inflates less.
    The first record of each run's transactions topic is checked to carry the framing asked for.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from synfinance.producers.chunks import GENERATION_BATCH
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.schemas.codec import CONFLUENT_HEADER_LEN, CONFLUENT_MAGIC, Codec, single_object_prefix

SINGLE, REGISTRY = "single-object", "registry"
_KINDS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq")
_RATE = re.compile(r"\(([\d,]+) transactions/s\)")


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def describe(label: str, values: Sequence[float], unit: str) -> str:
    q1, median, q3 = quartiles(values)
    return (f"  {label:<14} median {median:>11,.0f} {unit}  quartiles {q1:,.0f} .. {q3:,.0f}  "
            f"min {min(values):,.0f}  max {max(values):,.0f}  (n={len(values)})")


def alternate(count: int) -> list[str]:
    """A B B A A B B A ...: each framing runs first as often as second."""
    pairs = [(SINGLE, REGISTRY) if i % 2 == 0 else (REGISTRY, SINGLE) for i in range(count)]
    return [framing for pair in pairs for framing in pair]


def report(rates: dict[str, list[float]], unit: str, paired: Sequence[float] | None = None) -> None:
    """Per framing its spread; the registry/single ratio of medians; the median of paired ratios."""
    for framing in (SINGLE, REGISTRY):
        print(describe(framing, rates[framing], unit))
    ratio = statistics.median(rates[REGISTRY]) / statistics.median(rates[SINGLE])
    if paired is None:
        paired = [b / a for a, b in zip(rates[SINGLE], rates[REGISTRY], strict=True)]
    q1, median, q3 = quartiles(paired)
    low, high = bootstrap_interval(paired)
    print(f"  registry / single-object: ratio of medians {ratio:.4f} (cost {100 * (1 - ratio):+.2f}%); "
          f"per-pair ratios median {median:.4f}, quartiles {q1:.4f} .. {q3:.4f}, 95% bootstrap interval of "
          f"that median {low:.4f} .. {high:.4f} (n={len(paired)})")


def bootstrap_interval(values: Sequence[float], resamples: int = 10_000, seed: int = 1) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the median over resamples of `values` (with replacement)."""
    data = np.asarray(values)
    picks = np.random.default_rng(seed).integers(0, len(data), (resamples, len(data)))
    medians = np.median(data[picks], axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def encoding(repeat: int, chunks: int) -> None:
    config = StreamConfig()
    world = World(config)
    stream = TransactionStream(config, world)
    batches = []
    for batch in stream.batches(GENERATION_BATCH):
        batches.append(batch)
        if len(batches) == chunks:
            break
    codec = Codec({"transaction": 17, "label": 18})  # ids as a registry hands them out
    encoders = {SINGLE: RecordEncoder(world, single_object_prefix("transaction"), single_object_prefix("label")),
                REGISTRY: RecordEncoder(world, codec.prefix("transaction"), codec.prefix("label"))}

    def encode_all(encoder: RecordEncoder) -> int:
        records = 0
        for batch in batches:
            records += len(encoder.encode_transactions(batch)) + len(encoder.encode_labels(batch))
        return records

    first = batches[0]
    for kind in ("transactions", "labels"):
        single = getattr(encoders[SINGLE], f"encode_{kind}")(first)
        confluent = getattr(encoders[REGISTRY], f"encode_{kind}")(first)
        assert [v[10:] for v in single] == [v[CONFLUENT_HEADER_LEN:] for v in confluent], f"{kind} bodies differ"
    events = sum(len(b) for b in batches)
    for encoder in encoders.values():
        encode_all(encoder)  # warm the vocabulary caches of both
    clocks = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
    spent = {(clock, framing): [0] * repeat for clock in clocks for framing in (SINGLE, REGISTRY)}
    per_chunk: dict[str, list[float]] = {clock: [] for clock in clocks}
    for r in range(repeat):
        for i, batch in enumerate(batches):
            took: dict[tuple[str, str], int] = {}
            for framing in (SINGLE, REGISTRY) if (r + i) % 2 == 0 else (REGISTRY, SINGLE):
                encoder = encoders[framing]
                wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
                encoder.encode_transactions(batch)
                encoder.encode_labels(batch)
                took["cpu", framing] = time.thread_time_ns() - cpu
                took["wall", framing] = time.perf_counter_ns() - wall
            for key, ns in took.items():
                spent[key][r] += ns
            for clock in clocks:  # a rate ratio: single-object's time over registry's
                per_chunk[clock].append(took[clock, SINGLE] / max(took[clock, REGISTRY], 1))
    print(f"(a) encoding Transaction + Label column-wise, {chunks} chunks of {GENERATION_BATCH:,} events "
          f"({events:,} events) per repetition, {repeat} repetitions, framings alternating chunk by chunk")
    for clock in clocks:
        print(f" {clock} clock:")
        rates = {framing: [events / (ns / 1e9) for ns in spent[clock, framing]] for framing in (SINGLE, REGISTRY)}
        report(rates, "events/s", per_chunk[clock])


def _local_stack(home: Path) -> tuple[dict[str, str], Callable[[], None]]:
    from synfinance.stack.launcher import LocalStack

    stack = LocalStack(home)
    state = stack.up(with_kafka=True, with_postgres=False, with_registry=True)
    return state.exports(), lambda: stack.down()


def _first_byte(bootstrap: str, topic: str) -> bytes:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                return bytes(message.value()[:1])
        raise RuntimeError(f"no record read from {topic}")
    finally:
        consumer.close()


def produce_once(env: dict[str, str], framing: str, events: int) -> tuple[float, float, float]:
    """One `synfinance produce` run on fresh topics: (transactions/s as printed, wall seconds, CPU seconds)."""
    prefix = f"bench.framing.{uuid.uuid4().hex[:8]}"
    topics = {f"SYNFIN_TOPICS__{kind.upper()}": f"{prefix}.{kind}" for kind in _KINDS}
    run_env = {**env, **topics}
    if framing == SINGLE:
        run_env.pop("SYNFIN_SCHEMA_REGISTRY_URL", None)
    command = [sys.executable, "-m", "synfinance.cli", "produce", "--profile", "max", "--quiet",
               "--events", str(events)]
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, env=run_env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # usage includes the generator child it waited for
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    found = _RATE.search(stderr)
    if child.returncode != 0 or found is None:
        raise RuntimeError(f"produce ({framing}) exited {child.returncode}: {stderr.strip()[-500:]}")
    bootstrap = env["SYNFIN_BOOTSTRAP_SERVERS"]
    magic = _first_byte(bootstrap, f"{prefix}.transactions")
    if (magic == CONFLUENT_MAGIC) != (framing == REGISTRY):
        raise RuntimeError(f"{framing} run wrote values starting {magic.hex()}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([f"{prefix}.{kind}" for kind in ("customers", "merchants", "transactions",
                                                                       "labels")]).values():
        future.result(30)
    return float(found.group(1).replace(",", "")), wall, cpu


def end_to_end(runs: int, events: int) -> None:
    given = {name: os.environ[name] for name in ("SYNFIN_BOOTSTRAP_SERVERS", "SYNFIN_SCHEMA_REGISTRY_URL")
             if os.environ.get(name)}
    stop: Callable[[], None] = lambda: None  # noqa: E731 - nothing to stop for a given stack
    home = Path(tempfile.mkdtemp(prefix="bench-framing-"))
    if len(given) < 2:
        given, stop = _local_stack(home)
    env = {**os.environ, **given, "PYTHONUNBUFFERED": "1"}
    try:
        for framing in (SINGLE, REGISTRY):  # warm-up: the broker's JVM compiles its hot paths
            produce_once(env, framing, events)
        rates: dict[str, list[float]] = {SINGLE: [], REGISTRY: []}
        walls: dict[str, list[float]] = {SINGLE: [], REGISTRY: []}
        cpu_rates: dict[str, list[float]] = {SINGLE: [], REGISTRY: []}
        for framing in alternate(runs):
            rate, wall, cpu = produce_once(env, framing, events)
            rates[framing].append(rate)
            walls[framing].append(wall)
            cpu_rates[framing].append(events / cpu)
            print(f"    {framing:<14} {rate:>9,.0f} transactions/s  ({wall:.1f} s wall, {cpu:.1f} CPU s)",
                  flush=True)
    finally:
        stop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"(b) synfinance produce --profile max --events {events:,}, {runs} alternating pairs, broker "
          f"{given['SYNFIN_BOOTSTRAP_SERVERS']}, registry {given['SYNFIN_SCHEMA_REGISTRY_URL']}")
    report(rates, "txn/s")
    print(" transactions per CPU second of the produce process tree (whole run, population included):")
    report(cpu_rates, "txn/CPU-s")
    print(f"  wall seconds per run (process start to exit), median: single-object "
          f"{statistics.median(walls[SINGLE]):.1f}, registry {statistics.median(walls[REGISTRY]):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=41, help="(a): alternating pairs")
    parser.add_argument("--chunks", type=int, default=10, help="(a): generated chunks encoded per repetition")
    parser.add_argument("--e2e", action="store_true", help="also run (b)")
    parser.add_argument("--runs", type=int, default=5, help="(b): alternating pairs")
    parser.add_argument("--events", type=int, default=300_000, help="(b): events per produce run")
    args = parser.parse_args()
    if args.repeat < 2 or args.runs < 2:
        parser.error("--repeat and --runs must be >= 2")
    encoding(args.repeat, args.chunks)
    if args.e2e:
        end_to_end(args.runs, args.events)


if __name__ == "__main__":
    main()
