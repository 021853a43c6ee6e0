"""`synfinance produce` end to end against the real session broker (SPEC §5, §6; issue 6 "Must show").

Every run is a subprocess (`python -m synfinance.cli produce ...`) writing to topics with a unique
prefix; records are read back with a plain confluent-kafka consumer, not through the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from synfinance.cli import main
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode

EVENTS = 50_000
# the topics keep 7 days by record timestamp (= event time): start two days ago, or the broker deletes
# the records at its next retention check; computed once, so every run of the module shares it
START = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).strftime("%Y-%m-%dT00:00:00Z")
POPULATION = ["--customers", "2000", "--merchants", "300", "--start", START]
KINDS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq", "runs")
Record = tuple[bytes, bytes, int, dict[str, bytes]]  # key, value, timestamp (ms), headers


@dataclass(frozen=True)
class Topics:
    bootstrap: str
    prefix: str

    def name(self, kind: str) -> str:
        return f"{self.prefix}.{kind}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": self.bootstrap}
        env.update({f"SYNFIN_TOPICS__{kind.upper()}": self.name(kind) for kind in KINDS})
        return env

    def start(self, *args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "synfinance.cli", "produce", "--quiet", *POPULATION, *args]
        return subprocess.Popen(command, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def produce(self, *args: str) -> None:
        process = self.start(*args)
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr

    def read(self, kind: str) -> dict[int, list[Record]]:
        """Every record of the topic, per partition, in offset order."""
        topic = self.name(kind)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                             "enable.auto.commit": False})
        try:
            partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            out: dict[int, list[Record]] = {p: [] for p in partitions}
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions if ends[p]])
            remaining = sum(ends.values())
            deadline = time.monotonic() + 60
            while remaining and time.monotonic() < deadline:
                for message in consumer.consume(10_000, timeout=1.0):
                    assert message.error() is None, message.error()
                    if message.offset() < ends[message.partition()]:
                        out[message.partition()].append((message.key(), message.value(), message.timestamp()[1],
                                                         dict(message.headers() or [])))
                        remaining -= 1
            assert remaining == 0, f"{remaining} records of {topic} not read"
            return out
        finally:
            consumer.close()

    def total(self, kind: str) -> int:
        """Records in the topic so far; 0 while it is being created (no leader yet)."""
        topic = self.name(kind)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"test-{uuid.uuid4().hex}"})
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            partitions = metadata.partitions if metadata is not None else {}
            return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
        except KafkaException:
            return 0
        finally:
            consumer.close()


def revised_among_first(events: int, seed: int) -> int:
    """How many of the first `events` transactions of a run of POPULATION get a revision label (a chargeback)."""
    config = StreamConfig(seed=seed, customers=2_000, merchants=300, start=START)
    return int((next(TransactionStream(config).batches(events)).revision_delay_us >= 0).sum())


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whoever adopted it, perhaps never)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def fresh(bootstrap: str, tag: str) -> Topics:
    return Topics(bootstrap, f"test.produce.{tag}.{uuid.uuid4().hex[:8]}")


def seq(record: Record) -> int:
    return int(record[3]["synfin-seq"])


def contract(partitions: dict[int, list[Record]]) -> dict[int, list[tuple[bytes, bytes, int, list[bytes]]]]:
    """(key, value, timestamp, headers except traceparent) per partition: what SPEC §5 fixes."""
    return {p: [(k, v, t, [h["synfin-seed"], h["synfin-seq"], h["synfin-schema"]]) for k, v, t, h in records]
            for p, records in partitions.items()}


def first_occurrences(records: list[Record]) -> list[tuple[bytes, bytes, int]]:
    seen: set[bytes] = set()
    out = []
    for key, value, timestamp, _ in records:
        if value not in seen:
            seen.add(value)
            out.append((key, value, timestamp))
    return out


def flat(partitions: dict[int, list[Record]]) -> Iterator[Record]:
    for records in partitions.values():
        yield from records


@pytest.fixture(scope="module")
def paced_run(kafka_bootstrap: str) -> Topics:
    """The reference: 50,000 events at 5,000/s."""
    topics = fresh(kafka_bootstrap, "paced")
    topics.produce("--seed", "3", "--events", str(EVENTS), "--rate", "5000")
    return topics


@pytest.fixture(scope="module")
def max_run(kafka_bootstrap: str) -> Topics:
    topics = fresh(kafka_bootstrap, "max")
    # generated on a thread of the producer, where every other run uses the generator process: the
    # records must not depend on where they were made either
    topics.produce("--seed", "3", "--events", str(EVENTS), "--profile", "max", "--generator", "thread")
    return topics


@pytest.mark.integration
def test_50k_events_are_all_there_once_in_event_time_order(paced_run: Topics) -> None:
    transactions = paced_run.read("transactions")
    records = list(flat(transactions))
    decoded = [decode(value) for _, value, _, _ in records]
    assert len({t["transaction_id"] for t in decoded}) == len(records) == EVENTS
    assert sorted(seq(r) for r in records) == list(range(EVENTS))
    assert all(r[3]["synfin-seed"] == b"3" and r[3]["synfin-schema"].startswith(b"in.synfinance.Transaction@")
               for r in records)
    assert [t["event_time"] // 1000 for t in decoded] == [r[2] for r in records]  # timestamp = event time
    assert [t["customer_id"].encode() for t in decoded] == [r[0] for r in records]  # key = customer_id
    for records_of_partition in transactions.values():
        times: dict[bytes, list[int]] = defaultdict(list)
        for key, value, _, _ in records_of_partition:
            times[key].append(decode(value)["event_time"])
        assert all(all(b > a for a, b in itertools.pairwise(t)) for t in times.values())
        stamps = [r[2] for r in records_of_partition]
        assert stamps == sorted(stamps)  # the whole partition runs in event time
    labels = [decode(value) for _, value, _, _ in flat(paced_run.read("labels"))]
    first = [label["transaction_id"] for label in labels if label["revision"] == 0]
    revisions = [label for label in labels if label["revision"] == 1]
    assert sorted(first) == sorted(t["transaction_id"] for t in decoded)  # one first label each
    # and, the run having flushed what was pending at its end, every chargeback's revision
    assert len(revisions) == len(labels) - len(first) == revised_among_first(EVENTS, seed=3) > 100
    assert len({label["transaction_id"] for label in revisions}) == len(revisions)
    assert all(label["is_fraud"] for label in revisions)
    assert (paced_run.total("customers"), paced_run.total("merchants")) == (2000, 300)


@pytest.mark.integration
def test_same_seed_at_5k_per_second_and_at_max_gives_identical_partitions(paced_run: Topics, max_run: Topics) -> None:
    for kind in ("customers", "merchants", "transactions", "labels"):
        paced, fast = contract(paced_run.read(kind)), contract(max_run.read(kind))
        assert sum(map(len, paced.values())) == sum(map(len, fast.values())) > 0, kind
        assert paced == fast, kind


@pytest.mark.integration
def test_lean_headers_give_the_same_records_with_two_headers_and_the_run_record_holds_the_rest(
        kafka_bootstrap: str, max_run: Topics) -> None:
    lean_run = fresh(kafka_bootstrap, "lean")
    lean_run.produce("--seed", "3", "--events", str(EVENTS), "--profile", "max", "--headers", "lean")
    for kind in ("customers", "merchants", "transactions", "labels"):
        full, lean = max_run.read(kind), lean_run.read(kind)
        assert sum(map(len, lean.values())) == sum(map(len, full.values())) > 0, kind
        # per partition: key, value bytes and timestamp identical to the full run's, and the same positions
        assert ({p: [r[:3] for r in records] for p, records in lean.items()}
                == {p: [r[:3] for r in records] for p, records in full.items()}), kind
        assert {p: list(map(seq, records)) for p, records in lean.items()} == {
            p: list(map(seq, records)) for p, records in full.items()}, kind
        assert {tuple(r[3]) for r in flat(lean)} == {("synfin-seq", "traceparent")}, kind  # exactly two headers
    schema_headers = {max_run.name(kind): next(flat(max_run.read(kind)))[3]["synfin-schema"]
                      for kind in ("customers", "merchants", "transactions", "labels")}
    stream = StreamConfig(seed=3, customers=2_000, merchants=300, start=START)
    for run, header_set in ((max_run, "full"), (lean_run, "lean")):
        (record,) = flat(run.read("runs"))
        key, value, timestamp, _ = record
        info = decode(value)
        assert key == info["stream_id"].encode() == stream.stream_id.encode()
        assert timestamp == stream.start_us // 1000
        assert (info["seed"], info["header_set"], info["time_mode"]) == (3, header_set, "simulated")
        assert {t["topic"].replace(run.prefix, max_run.prefix): f"{t['schema']}@{t['fingerprint']}".encode()
                for t in info["topics"]} == schema_headers  # what every full record's synfin-schema says
        assert all(t["schema_id"] is None for t in info["topics"])  # no registry: single-object framing


@pytest.mark.integration
def test_two_shards_together_are_the_unsharded_run_per_key(kafka_bootstrap: str, max_run: Topics) -> None:
    """The contract the README states: with the same --events N, shards i/2 together send the unsharded run's
    records, each key's in the same order on the same partition (how keys interleave in a partition depends on
    the shards' relative speed, and synfin-seq counts each shard's own stream)."""
    whole = {kind: max_run.read(kind) for kind in ("customers", "merchants", "transactions", "labels")}
    # each shard's share of the first 50,000 events: its customers' (the ordinal is in the id)
    shares = Counter((int(key.split(b"-")[1]) - 1) % 2 for key, _, _, _ in flat(whole["transactions"]))
    topics = fresh(kafka_bootstrap, "shards")
    created = subprocess.run([sys.executable, "-m", "synfinance.cli", "topics", "create"], env=topics.env(),
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    runs = [topics.start("--seed", "3", "--shard", f"{i}/2", "--events", str(EVENTS), "--profile", "max")
            for i in range(2)]
    for i, run in enumerate(runs):
        _, stderr = run.communicate(timeout=240)
        assert run.returncode == 0, stderr
        assert f", {shares[i]:,} to {topics.name('transactions')} in " in stderr, stderr  # exactly its share

    def per_key(partitions: dict[int, list[Record]]) -> dict[tuple[int, bytes], list[tuple[bytes, int, bytes, bytes]]]:
        out: dict[tuple[int, bytes], list[tuple[bytes, int, bytes, bytes]]] = defaultdict(list)
        for partition, records in partitions.items():
            for key, value, timestamp, headers in records:  # synfin-seq counts the shard's own stream
                out[(partition, key)].append((value, timestamp, headers["synfin-seed"], headers["synfin-schema"]))
        return out

    for kind, expected in whole.items():
        union = topics.read(kind)
        assert sum(map(len, union.values())) == sum(map(len, expected.values())), kind
        assert per_key(union) == per_key(expected), kind


@pytest.mark.integration
def test_sigkill_then_from_seq_leaves_no_gap(kafka_bootstrap: str, paced_run: Topics) -> None:
    topics = fresh(kafka_bootstrap, "resume")
    killed = topics.start("--seed", "3", "--events", str(EVENTS), "--rate", "5000")
    deadline = time.monotonic() + 120
    while topics.total("transactions") < 12_000:
        assert killed.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    children = children_of(killed.pid)
    assert children, "the producer runs its generator process"
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(map(running, children)):  # an orphaned generator ends by itself
        assert time.monotonic() < deadline, f"generator process {children} outlived its killed producer"
        time.sleep(0.1)
    first = {kind: topics.read(kind) for kind in ("transactions", "labels")}
    # the resume rule (producers/producer.py): 1 + the least synfin-seq among the partitions' last records
    resume_at = 1 + min(seq(records[-1]) for partitions in first.values() for records in partitions.values())
    assert 0 < resume_at < EVENTS
    topics.produce("--seed", "3", "--events", str(EVENTS), "--from-seq", str(resume_at), "--profile", "max")
    resume_time = next(decode(r[1])["event_time"] for r in flat(paced_run.read("transactions"))
                       if seq(r) == resume_at - 1)

    for kind in ("transactions", "labels"):
        after, reference = topics.read(kind), paced_run.read(kind)
        for partition, records in after.items():
            # no gap and no reordering: dropping repeats leaves exactly the uninterrupted partition
            assert first_occurrences(records) == [r[:3] for r in reference[partition]], (kind, partition)
        # at-least-once: what comes twice is only what the killed run delivered beyond the resume point
        repeats = Counter(value for _, value, _, _ in flat(after))
        duplicated = [r for r in flat(after) if repeats[r[1]] > 1]
        assert max(repeats.values()) <= 2
        if kind == "transactions":
            assert all(seq(r) >= resume_at for r in duplicated)
        else:  # a label comes again if its transaction is resent or it was still pending at the resume point
            assert all(seq(r) >= resume_at or decode(r[1])["label_time"] > resume_time for r in duplicated)


@pytest.mark.integration
def test_sigterm_stops_flushes_and_exits_0_with_stats_and_metrics(kafka_bootstrap: str) -> None:
    topics = fresh(kafka_bootstrap, "sigterm")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = topics.start("--seed", "5", "--rate", "2000", "--json-stats", "--metrics-port", str(port))
    deadline = time.monotonic() + 120
    while topics.total("transactions") < 3_000:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    run.send_signal(signal.SIGTERM)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert f'synfin_produced_total{{topic="{topics.name("transactions")}"}}' in metrics
    assert "synfin_target_rate 2000.0" in metrics
    assert "synfin_delivery_latency_seconds_bucket" in metrics and "synfin_produce_errors_total 0.0" in metrics
    stats = [json.loads(line) for line in stdout.splitlines()]
    assert stats[-1]["done"] and not any(s["done"] for s in stats[:-1]) and stats[-1]["failed"] == 0
    # process start -> first transaction acknowledged: set once, the same in every later snapshot, and within
    # the run (the process had run for elapsed_s plus its start-up before the run began)
    startup = {s["startup_s"] for s in stats if s["startup_s"] is not None}
    assert len(startup) == 1 and stats[-1]["startup_s"] is not None
    assert 0.05 < stats[-1]["startup_s"] < stats[-1]["elapsed_s"] + 30
    position = stats[-1]["position"]
    assert f"next position {position:,}; stopped early" in stderr
    # everything handed to Kafka before the stop was delivered; pending labels (first ones and revisions of the
    # sent transactions) wait for a resumed run
    assert topics.total("transactions") == position
    scheduled = position + revised_among_first(position, seed=5)
    assert topics.total("labels") == scheduled - stats[-1]["pending_labels"] == stats[-1]["produced"][
        topics.name("labels")]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rate", "0"], "--rate must be > 0"),
        (["--shard", "3/2"], "--shard 3/2: expected i/N with 0 <= i < N"),
        (["--profile", "wobble"], "unknown rate profile 'wobble'"),
        (["--profile", "ramp:1:2"], "bad rate profile"),
        (["--events", "-1"], "--events must be >= 0"),
        (["--from-seq", "5", "--time", "live"], "--from-seq resumes a simulated-time run"),
        (["--generator", "gpu"], "--generator 'gpu': expected process or thread"),
        (["--headers", "none"], "--headers 'none': expected full or lean"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce", *args]) == 2
    error = capsys.readouterr().err
    assert fragment in error
    assert error.count("\n") == 1


def test_unreachable_broker_is_exit_2_after_a_bounded_wait(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNFIN_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    started = time.monotonic()
    assert main(["produce", "--connect-timeout", "2", "--events", "10"]) == 2
    assert time.monotonic() - started < 10
    error = capsys.readouterr().err
    assert "127.0.0.1:1 is unreachable" in error
    assert error.count("\n") == 1


def test_validate_reads_a_runs_topics_and_every_rule_holds(max_run: Topics, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in max_run.env().items():
        if name.startswith("SYNFIN_"):
            monkeypatch.setenv(name, value)
    code = main(["validate", "--topic", max_run.name("transactions"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["transactions"] == EVENTS and report["labels"] >= EVENTS
    assert [r["name"] for r in report["rules"] if not r["passed"]] == []
    assert code == (0 if report["passed"] else 1)


def test_validate_an_unknown_topic_is_one_line_and_exit_2(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNFIN_BOOTSTRAP_SERVERS", kafka_bootstrap)
    assert main(["validate", "--topic", f"no-such-{uuid.uuid4().hex[:8]}"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], lines
