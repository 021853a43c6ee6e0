"""Benchmark: the producer's throughput against its raw ceiling, and its rate accuracy.

Run: ``python bench/bench_produce.py [--events 300000] [--seconds 30]``. Starts a local broker
(`synfinance.stack`) in a temporary directory unless ``--bootstrap`` is given, and in one run measures

(a) the raw ceiling: records of the same sizes (pre-encoded Transaction + Label values, keys, headers)
    through the same `KafkaProducer` config, one label per transaction as in the full path;
(b) the full path at ``--profile max``: generation, encoding, label scheduling, produce, final flush;
    with the generator in its child process (`synfinance produce`'s default) and, beside it, on a
    thread of the producer (``--generator thread``); from the first transaction sent to the last
    acknowledgement, as (a); reported as transactions/s and as (b)/(a), medians of ``--repeat`` runs
    each (the three alternate, so all see the same machine), after a
    warm-up pass (a fresh broker is slow until its JVM has compiled the hot paths); beside them, for
    the record: (a) with a Python delivery callback on every message, the bare client without
    headers, and generation + encoding alone;
    (a) and (b) are measured with both header sets (`--headers full`, the default, and `lean`);
(d) the anchor: Kafka's own `kafka-producer-perf-test` (the Java client, from the stack's kafka-tools jar)
    on the same broker, in the same run, with our mean record size and our acks, idempotence,
    compression, linger and batch size, ``--perf-records`` (>= 2M: past the JVM's warm-up) records;
    our messages/s (transactions + labels) as a ratio of its records/s. Its records have no key and no
    headers, and its payload is random letters (ours are Avro), so it is a ceiling for the broker and
    the wire, not for the same records;
(e) start-up: `synfinance produce` from process start to the first transaction acknowledged, world cache
    cold and warm, generator in its process and on a thread (`bench_startup.py`), medians of
    ``--startup-repeat``;
(c) rate accuracy at 1k, 10k and 100k transactions/s: achieved/target over every 10 s window
    (sliding by 1 s, from the second after the first transaction), worst window.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from bench_startup import startup_table  # the same directory: run as `python bench/bench_produce.py`
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.settings import TopicNames
from synfinance.producers.kafka import PRODUCER_DEFAULTS, HeaderSet, KafkaProducer, RecordHeaders, traceparents
from synfinance.producers.producer import ProduceRun
from synfinance.producers.rates import Constant, Max, Profile
from synfinance.producers.records import RecordEncoder
from synfinance.producers.run_config import RunConfig
from synfinance.producers.run_stats import Snapshot
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.schemas.codec import single_object_prefix
from synfinance.stack import kafka, kafka_tools

CHUNK = 10_000
# the producer settings kafka-producer-perf-test gets from ours: the Java client's names are the same
PERF_TEST_SETTINGS = ("acks", "enable.idempotence", "compression.type", "linger.ms", "batch.size")


def make_topics(bootstrap: str) -> TopicNames:
    prefix = f"bench.produce.{uuid.uuid4().hex[:8]}"
    kinds = ("customers", "merchants", "transactions", "labels", "runs")  # runs: every run's RunInfo record
    names = TopicNames(**{k: f"{prefix}.{k}" for k in kinds})
    topics = [NewTopic(getattr(names, k), 6, 1) for k in kinds]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(topics).values():
        future.result(30)
    time.sleep(1)
    return names


def sample_records(world: World, config: StreamConfig) -> dict[str, Any]:
    """One real chunk, encoded: the raw runs send these bytes over and over."""
    encoder = RecordEncoder(world, single_object_prefix("transaction"), single_object_prefix("label"))
    chunk = next(TransactionStream(config, world).batches(CHUNK))
    keys = [world.customers.ids[k].encode() for k in chunk.customer.tolist()]
    return {"transactions": encoder.encode_transactions(chunk), "labels": encoder.encode_labels(chunk),
            "keys": keys, "timestamps": (chunk.time_us // 1000).tolist()}


def raw_ceiling(bootstrap: str, topics: TopicNames, sample: dict[str, Any], events: int,
                every_report: bool = False, header_set: HeaderSet = "full") -> float:
    """(a): transactions/s for pre-encoded records through KafkaProducer.send (same headers).
    `every_report`: librdkafka reports every delivery, so the Python callback runs per message."""
    producer = KafkaProducer({"bootstrap.servers": bootstrap, "delivery.report.only.error": not every_report})
    headers = {"t": RecordHeaders(1, "transaction", header_set), "l": RecordHeaders(1, "label", header_set)}
    rng = np.random.default_rng()
    started = time.perf_counter()
    for start in range(0, events, CHUNK):
        traces = traceparents(rng, CHUNK).tolist()
        positions = range(start, start + CHUNK)
        producer.send(topics.transactions, sample["transactions"], sample["keys"], sample["timestamps"],
                      headers["t"], positions, traces)
        producer.send(topics.labels, sample["labels"], sample["keys"], sample["timestamps"], headers["l"],
                      positions, traces)
    assert producer.flush(60) == 0 and producer.failed_total == 0
    return events / (time.perf_counter() - started)


def bare_client(bootstrap: str, topics: TopicNames, sample: dict[str, Any], events: int) -> float:
    """The client alone, same config and bytes, no headers: confluent-kafka's own ceiling here."""
    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap})
    produce = producer.produce
    started = time.perf_counter()
    for _ in range(0, events, CHUNK):
        for topic, values in ((topics.transactions, sample["transactions"]), (topics.labels, sample["labels"])):
            for value, key, timestamp in zip(values, sample["keys"], sample["timestamps"], strict=True):
                try:
                    produce(topic, value, key, timestamp=timestamp)
                except BufferError:
                    producer.poll(0.01)
                    produce(topic, value, key, timestamp=timestamp)
            producer.poll(0)
    assert producer.flush(60) == 0
    return events / (time.perf_counter() - started)


def full_path(bootstrap: str, world: World, config: StreamConfig, profile: Profile, events: int | None,
              seconds: float | None, generator: str = "process", header_set: HeaderSet = "full",
              ) -> tuple[float, list[Snapshot]]:
    """(b) and (c): a produce run (population excluded); returns transactions/s and the 1 s snapshots.
    The rate counts from the first transaction handed to the client to the last acknowledgement, as (a)
    does: the generator's start (a child process: ~0.5 s; on a thread: its first block) is not in it (a
    cached first chunk is only sent first by paced runs it outlasts the generator's start in: not at max)."""
    topics = make_topics(bootstrap)
    snaps: list[Snapshot] = []
    producer = KafkaProducer({"bootstrap.servers": bootstrap})
    first_sent: list[float] = []
    send = producer.send

    def timed_send(topic: str, *args: Any) -> None:
        if not first_sent and topic == topics.transactions:
            first_sent.append(time.perf_counter())
        send(topic, *args)

    producer.send = timed_send  # type: ignore[method-assign]
    run_config = RunConfig(stream=config, profile=profile, topics=topics, events=events, duration_s=seconds,
                           publish_population=False, generator=generator,  # type: ignore[arg-type]
                           headers=header_set)
    run = ProduceRun(run_config, producer, world=world, on_stats=snaps.append)
    final = run.run()
    elapsed = time.perf_counter() - first_sent[0]
    assert final.failed == 0 and final.in_flight == 0
    return final.position / elapsed, snaps


def perf_test(bootstrap: str, version: str, record_size: int, records: int) -> tuple[float, list[str]]:
    """(d): Kafka's kafka-producer-perf-test on a fresh 6-partition topic with our producer settings; returns
    its records/s and the command line (for RESULTS.md)."""
    topic = f"bench.produce.perf.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    props = [f"{name}={str(PRODUCER_DEFAULTS[name]).lower()}" for name in PERF_TEST_SETTINGS]
    args = ["--topic", topic, "--num-records", str(records), "--record-size", str(record_size), "--throughput", "-1",
            "--producer-props", *props]
    java = kafka.require_tool("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    kafka.ensure_jars(version)
    command = kafka_tools.tool_command(java, "producer-perf-test", version, args, bootstrap)
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    # the summary: "N records sent, R records/sec (M MB/sec), ..." (per-5 s progress lines say "records sent" too)
    summary = [line for line in done.stdout.splitlines() if re.match(rf"{records} records sent, ", line)]
    if done.returncode != 0 or not summary:
        output = (done.stderr or done.stdout)[-800:]
        raise RuntimeError(f"kafka-producer-perf-test failed ({done.returncode}): {output}")
    rate = re.search(r"records sent, ([\d.]+) records/sec", summary[-1])
    assert rate is not None, summary
    return float(rate.group(1)), ["kafka-producer-perf-test", *args]


def generate_only(world: World, config: StreamConfig, events: int) -> float:
    """What (b) does before Kafka: the stream's own speed, for reading (b)/(a)."""
    encoder = RecordEncoder(world, single_object_prefix("transaction"), single_object_prefix("label"))
    started, done = time.perf_counter(), 0
    for chunk in TransactionStream(config, world).batches(CHUNK):
        encoder.encode_transactions(chunk)
        encoder.encode_labels(chunk)
        done += len(chunk)
        if done >= events:
            break
    return done / (time.perf_counter() - started)


def worst_window(snaps: list[Snapshot], rate: float, seconds: float, window: int = 10) -> tuple[float, float]:
    """(lowest, highest) achieved/target over every `window`-second span of the per-second snapshots,
    at steady state: from the second after the first transaction went out until the run's `seconds`
    were over (the final flush is not streaming)."""
    streaming = [s for s in snaps if s.position > 0 and s.streaming_s < seconds and not s.done][1:]
    times = np.array([s.elapsed_s for s in streaming])
    positions = np.array([s.position for s in streaming])
    ratios = []
    for i in range(len(streaming)):
        j = int(np.searchsorted(times, times[i] + window - 0.5))
        if j >= len(streaming):
            break
        ratios.append((positions[j] - positions[i]) / (times[j] - times[i]) / rate)
    return (min(ratios), max(ratios)) if ratios else (math.nan, math.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000, help="transactions for (a) and (b)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each rate-accuracy run")
    parser.add_argument("--rates", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="alternating (a)/(b) pairs; medians reported")
    parser.add_argument("--perf-records", type=int, default=3_000_000,
                        help="records for kafka-producer-perf-test (>= 2M: past the JVM's warm-up)")
    parser.add_argument("--bootstrap", help="an existing broker (default: start a local one)")
    parser.add_argument("--startup-repeat", type=int, default=5, help="runs of each start-up case; medians")
    args = parser.parse_args()

    stack = None
    bootstrap = args.bootstrap
    version = kafka.selected_version()  # the perf test's jars; with --bootstrap, say SYNFIN_KAFKA_VERSION
    if bootstrap is None:
        from synfinance.stack.launcher import LocalStack

        stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-produce-")))
        running = stack.up(with_postgres=False).kafka
        assert running is not None
        bootstrap, version = running.bootstrap, running.version
    try:
        # a recent start: the topics' time retention would otherwise delete old event times at once
        start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - 86_400))
        config = StreamConfig(seed=42, customers=10_000, merchants=2_000, start=start)
        world = World(config)
        sample = sample_records(world, config)
        sizes = [len(v) for v in sample["transactions"]], [len(v) for v in sample["labels"]]
        print(f"broker {bootstrap}; records: Transaction mean {np.mean(sizes[0]):.0f} B, Label mean "
              f"{np.mean(sizes[1]):.0f} B, one label per transaction; 10,000 customers, 2,000 merchants")
        topics = make_topics(bootstrap)
        raw_ceiling(bootstrap, topics, sample, args.events)  # warm-up: a fresh broker's JVM is still compiling
        pairs, threaded, lean_pairs = [], [], []
        for _ in range(args.repeat):  # (a) and (b) alternate, so all see the same machine
            pairs.append((raw_ceiling(bootstrap, topics, sample, args.events),
                          full_path(bootstrap, world, config, Max(), args.events, None)[0]))
            threaded.append(full_path(bootstrap, world, config, Max(), args.events, None, generator="thread")[0])
            lean_pairs.append((raw_ceiling(bootstrap, topics, sample, args.events, header_set="lean"),
                               full_path(bootstrap, world, config, Max(), args.events, None, header_set="lean")[0]))
        callback = raw_ceiling(bootstrap, topics, sample, args.events, every_report=True)
        bare = bare_client(bootstrap, topics, sample, args.events)
        generation = generate_only(world, config, args.events)
        record_size = round(float(np.mean(sizes[0] + sizes[1])))  # one label per transaction: the mean message
        perf, perf_command = perf_test(bootstrap, version, record_size, args.perf_records)
        a, b = (float(np.median([pair[k] for pair in pairs])) for k in (0, 1))
        lean_a, lean_b = (float(np.median([pair[k] for pair in lean_pairs])) for k in (0, 1))
        ratios = ", ".join(f"{pb / pa:.0%}" for pa, pb in pairs)
        lean_ratios = ", ".join(f"{pb / pa:.0%}" for pa, pb in lean_pairs)
        print(f"(a)  raw ceiling: pre-encoded, KafkaProducer.send, same headers  {a:>9,.0f} txn/s ({2 * a:,.0f} msg/s)")
        print(f"(b)  full path, --profile max                                   {b:>9,.0f} txn/s ({2 * b:,.0f} msg/s)")
        print(f"     (b)/(a) = {b / a:.0%} (medians of {args.repeat}; per pair: {ratios})")
        print(f"(a)  raw ceiling, --headers lean                                {lean_a:>9,.0f} txn/s "
              f"({2 * lean_a:,.0f} msg/s)")
        print(f"(b)  full path, --profile max --headers lean                    {lean_b:>9,.0f} txn/s "
              f"({2 * lean_b:,.0f} msg/s)")
        print(f"     (b)/(a) lean = {lean_b / lean_a:.0%} (medians of {args.repeat}; per pair: {lean_ratios}); "
              f"lean (b) / full (b) = {lean_b / b:.2f}")
        print(f"(d)  kafka-producer-perf-test (Kafka {version}), {args.perf_records:,} records of {record_size} B "
              f"{perf:>9,.0f} records/s")
        print(f"     our msg/s as a share of it: (b) full {2 * b / perf:.0%}, (b) lean {2 * lean_b / perf:.0%}, "
              f"(a) full {2 * a / perf:.0%}, (a) lean {2 * lean_a / perf:.0%}")
        print(f"     command: {' '.join(perf_command)} (+ bootstrap)")
        thread = float(np.median(threaded))
        print(f"     (b) with the generator on a thread (--generator thread)      {thread:>9,.0f} txn/s "
              f"= {thread / a:.0%} of (a)")
        print(f"     as (a), a Python delivery callback on every message          {callback:>9,.0f} txn/s")
        print(f"     bare confluent-kafka produce(), no headers                  {bare:>9,.0f} txn/s")
        print(f"     generation + Transaction/Label encoding alone, no Kafka     {generation:>9,.0f} txn/s")
        names = {f"SYNFIN_TOPICS__{kind.upper()}": f"bench-startup-{uuid.uuid4().hex[:8]}.{kind}"
                 for kind in TopicNames().model_dump()}
        print(f"(e)  start-up, process start -> first transaction acknowledged (bench_startup.py, "
              f"{args.startup_repeat} runs each):")
        for line in startup_table({**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": bootstrap, **names},
                                  args.startup_repeat):
            print(f"     {line}")
        for rate in (float(r) for r in args.rates.split(",")):
            _, snaps = full_path(bootstrap, world, config, Constant(rate), None, args.seconds)
            low, high = worst_window(snaps, rate, args.seconds)
            print(f"(c)  target {rate:>9,.0f}/s over {args.seconds:g} s: achieved/target per 10 s window "
                  f"min {low:.4f} max {high:.4f}")
    finally:
        if stack is not None:
            stack.down()


if __name__ == "__main__":
    main()
