"""The produce run without Kafka: label scheduling, headers, delivery accounting, and the run loop on a
recording sink and a fake clock (determinism across rates, resume, shards, live time, stop)."""

from __future__ import annotations

import doctest
import itertools
import pickle
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from synfinance.common.errors import SynfinError
from synfinance.common.settings import TopicNames
from synfinance.producers import kafka, pacing
from synfinance.producers import producer as producer_module
from synfinance.producers.chunks import Chunk
from synfinance.producers.kafka import DeliveryTracker, KafkaProducer, RecordHeaders, traceparents
from synfinance.producers.pacing import LabelSchedule
from synfinance.producers.prefetch import PrefetchFailed, ProcessPrefetch, ThreadPrefetch
from synfinance.producers.producer import ProduceRun
from synfinance.producers.rates import Constant, Max, Profile, Ramp
from synfinance.producers.run_config import RunConfig
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.schemas.codec import decode, single_object_prefix

TOPICS = TopicNames(customers="c", merchants="m", transactions="t", labels="l", runs="r")
Record = tuple[bytes, bytes, int, list[tuple[str, bytes]]]


def test_doctests_run() -> None:
    for module in (kafka, pacing):
        result = doctest.testmod(module)
        assert result.failed == 0
        assert result.attempted >= 4


# -- label schedule ------------------------------------------------------------------------------------

def schedule_in_slices(label_time: np.ndarray, event_time: np.ndarray, sizes: Iterable[int]) -> list[tuple[int, int]]:
    """Feed a stream's labels in slices as the run does; returns released (label_time, position) in order."""
    schedule, out, start = LabelSchedule(), [], 0
    for size in sizes:
        stop = min(start + size, len(label_time))
        if start >= stop:
            break
        positions = np.arange(start, stop)
        schedule.add(label_time[start:stop], positions, payload=positions * 10)
        due = schedule.due(int(event_time[stop - 1]))
        if due:
            assert (due["label_time"] <= event_time[stop - 1]).all()  # never early
            assert (due["payload"] == due["position"] * 10).all()     # columns travel together
            out += list(zip(due["label_time"].tolist(), due["position"].tolist(), strict=True))
        start = stop
    rest = schedule.drain()
    if rest:
        out += list(zip(rest["label_time"].tolist(), rest["position"].tolist(), strict=True))
    assert len(schedule) == 0
    return out


@pytest.mark.parametrize("delays", ["zero", "hours", "mixed"])
def test_labels_come_out_in_label_time_order_whatever_the_slicing(delays: str) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    event_time = np.sort(rng.integers(0, 10**9, n)) // 1000 * 1000  # coarse: many equal times
    delay = {"zero": np.zeros(n, dtype=np.int64),
             "hours": rng.integers(0, 5 * 10**7, n),
             "mixed": np.where(rng.random(n) < 0.1, rng.integers(10**8, 10**9, n), rng.integers(0, 10**6, n))}[delays]
    label_time = event_time + delay
    expected = sorted(zip(label_time.tolist(), range(n), strict=True))
    one_by_one = schedule_in_slices(label_time, event_time, [1] * n)
    assert one_by_one == expected
    assert schedule_in_slices(label_time, event_time, rng.integers(1, 700, n)) == expected
    assert schedule_in_slices(label_time, event_time, [n]) == expected


def test_long_delays_keep_few_runs() -> None:
    schedule = LabelSchedule()
    for start in range(0, 100_000, 100):
        positions = np.arange(start, start + 100)
        schedule.add(10**12 - positions, positions)  # nothing due for a long time, reverse order
    assert len(schedule) == 100_000
    assert len(schedule._runs) <= 2 * np.log2(1000)
    assert schedule.due(10**12 - 99_950)["position"].tolist() == list(range(99_999, 99_949, -1))


# -- headers and trace context -------------------------------------------------------------------------

def test_headers_name_seed_position_and_schema_fingerprint() -> None:
    headers = RecordHeaders(seed=7, schema="label")
    trace = traceparents(np.random.default_rng(), 1).tolist()[0]
    assert headers.one(123_456, trace) == [
        ("synfin-seed", b"7"), ("synfin-seq", b"123456"),
        ("synfin-schema", b"in.synfinance.Label@" + single_object_prefix("label")[2:].hex().encode()),
        ("traceparent", trace)]


def test_lean_headers_are_the_position_and_trace_only() -> None:
    trace = traceparents(np.random.default_rng(), 1).tolist()[0]
    assert RecordHeaders(seed=7, schema="label", header_set="lean").one(123_456, trace) == [
        ("synfin-seq", b"123456"), ("traceparent", trace)]
    with pytest.raises(ValueError, match="header set 'thin'"):
        RecordHeaders(seed=7, schema="label", header_set="thin")  # type: ignore[arg-type]


def test_traceparents_are_w3c_and_distinct() -> None:
    values = traceparents(np.random.default_rng(), 10_000).tolist()
    pattern = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01")
    assert all(pattern.fullmatch(v) for v in values)
    assert len(set(values)) == 10_000


# -- delivery accounting -------------------------------------------------------------------------------

def test_tracker_reports_batches_once_settled_and_weights_percentiles() -> None:
    tracker = DeliveryTracker()
    tracker.sent(900, now=0.0)
    tracker.sent(100, now=0.5)
    assert tracker.settled(899, now=1.0) == []
    assert tracker.settled(900, now=1.0) == [(1.0, 900)]
    assert tracker.settled(1000, now=3.5) == [(3.0, 100)]
    assert tracker.percentiles(50, 95) == [1.0, 3.0]  # 900 of 1000 messages took 1 s


def test_failed_deliveries_are_counted_never_dropped() -> None:
    """No broker: every message waits, fails after message.timeout.ms, and is counted; a queue far
    smaller than the batch forces the BufferError path, which must wait, not drop."""
    producer_ = KafkaProducer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 200,
                               "queue.buffering.max.messages": 100})
    headers = RecordHeaders(seed=1, schema="transaction")
    n = 300
    producer_.send("t", [b"v"] * n, [b"k"] * n, [1_000] * n, headers, range(n), [b"x"] * n)
    assert producer_.flush(10) == 0
    assert producer_.buffer_full_waits > 0
    assert (producer_.produced_total, producer_.failed_total, producer_.delivered_total) == (n, n, 0)
    assert producer_.failed == Counter({"t": n})
    assert "timed out" in (producer_.last_failure or "")


def test_unreachable_broker_is_one_line_after_a_bounded_wait() -> None:
    producer_ = KafkaProducer({"bootstrap.servers": "127.0.0.1:1"})
    with pytest.raises(SynfinError) as caught:
        producer_.check_broker(timeout=1.0)
    assert "127.0.0.1:1 is unreachable" in str(caught.value)
    assert "\n" not in str(caught.value)


# -- the run loop --------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class RecordingSink:
    """Records what would be produced, per topic, in order; everything is delivered at once."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.records: dict[str, list[Record]] = defaultdict(list)
        self.produced: Counter[str] = Counter()
        self.tracker = DeliveryTracker()
        self.last_warning: str | None = None
        self.produced_total = self.delivered_total = self.failed_total = self.in_flight = 0

    def send(self, topic: str, values: list[bytes], keys: list[bytes], timestamps_ms: list[int],
             headers: RecordHeaders, positions: Iterable[int], traces: Iterable[bytes]) -> None:
        rows = zip(keys, values, timestamps_ms, positions, traces, strict=True)
        self.records[topic] += [(k, v, t, headers.one(p, tr)) for k, v, t, p, tr in rows]
        self.produced[topic] += len(values)
        self.produced_total += len(values)
        self.delivered_total += len(values)
        self.clock.now += 1e-6 * len(values)  # producing takes a little time

    def service(self, timeout: float = 0.0) -> None:
        self.clock.now += timeout

    def flush(self, timeout: float, tick: Any = None) -> int:
        return 0


@pytest.fixture(scope="module")
def small_world() -> World:
    return World(StreamConfig(seed=11, customers=400, merchants=60))


@pytest.fixture(scope="module")
def revised() -> np.ndarray:
    """Per position of the runs' stream (seed 11, 400 customers): whether its first label is revised later."""
    return next(TransactionStream(StreamConfig(seed=11, customers=400, merchants=60)).batches(12_345)
                ).revision_delay_us >= 0


def produce_run(world: World, profile: Profile, events: int | None = 6_000, **options: Any
                ) -> tuple[ProduceRun, dict[str, list[Record]]]:
    shard = options.pop("shard", (0, 1))
    clock = FakeClock()
    sink = RecordingSink(clock)
    stream = StreamConfig(seed=11, customers=400, merchants=60, shard=shard)
    config = RunConfig(stream=stream, profile=profile, topics=TOPICS, events=events, **options)
    run = ProduceRun(config, sink, world=world, clock=clock, sleep=clock.sleep, wall_us=lambda: int(clock.now * 1e6))
    run.run()
    return run, sink.records


def contract(records: list[Record]) -> list[tuple[bytes, bytes, int, list[tuple[str, bytes]]]]:
    """What the determinism contract covers: key, value, timestamp and headers except traceparent."""
    return [(k, v, t, h[:3]) for k, v, t, h in records]


def seq(record: Record) -> int:
    return int(dict(record[3])["synfin-seq"])


def test_same_records_at_any_rate(small_world: World, revised: np.ndarray) -> None:
    _, fast = produce_run(small_world, Max())
    _, paced = produce_run(small_world, Constant(5_000))
    _, ramped = produce_run(small_world, Ramp(100, 20_000, 1))
    # every first label and every revision: the end of a run flushes the labels still pending
    assert [len(fast[t]) for t in "cmtl"] == [400, 60, 6_000, 6_000 + int(revised[:6_000].sum())]
    assert revised[:6_000].sum() > 10
    for topic in "cmtl":
        assert contract(fast[topic]) == contract(paced[topic]) == contract(ramped[topic]), topic


def test_lean_headers_change_nothing_but_the_headers_and_the_run_record_says_which(small_world: World) -> None:
    _, full = produce_run(small_world, Max())
    _, lean = produce_run(small_world, Constant(20_000), headers="lean")
    for topic in "cmtl":
        assert len(lean[topic]) == len(full[topic]) > 0, topic
        assert [r[:3] for r in lean[topic]] == [r[:3] for r in full[topic]], topic  # key, value, timestamp
        assert {tuple(name for name, _ in r[3]) for r in lean[topic]} == {("synfin-seq", "traceparent")}, topic
        assert [seq(r) for r in lean[topic]] == [seq(r) for r in full[topic]], topic
    (full_key, full_value, full_time, full_headers), = full["r"]
    (lean_key, lean_value, lean_time, lean_headers), = lean["r"]
    stream = StreamConfig(seed=11, customers=400, merchants=60)
    assert full_key == lean_key == stream.stream_id.encode()
    assert full_time == lean_time == stream.start_us // 1000
    assert [name for name, _ in full_headers] == ["synfin-seed", "synfin-seq", "synfin-schema", "traceparent"]
    assert [name for name, _ in lean_headers] == ["synfin-seq", "traceparent"]
    full_info, lean_info = decode(full_value), decode(lean_value)
    assert (full_info["header_set"], lean_info["header_set"]) == ("full", "lean")
    assert lean_info["headers"] == ["synfin-seq", "traceparent"]
    assert {**full_info, "header_set": "lean", "headers": lean_info["headers"]} == lean_info
    assert lean_info["seed"] == 11 and lean_info["stream_id"] == stream.stream_id
    # the fingerprint each full record names in synfin-schema, and every value's own prefix carries
    schema_header = {topic: dict(full[topic][0][3])["synfin-schema"] for topic in "cmtl"}
    assert {t["topic"]: f"{t['schema']}@{t['fingerprint']}".encode() for t in lean_info["topics"]} == schema_header
    assert all(full[topic][0][1][2:10].hex() == t["fingerprint"] for topic, t in zip("cmtl", lean_info["topics"],
                                                                                     strict=True))


def test_transactions_and_labels_are_consistent(small_world: World, revised: np.ndarray) -> None:
    _, records = produce_run(small_world, Max())
    transactions = [decode(v) for _, v, _, _ in records["t"]]
    assert [seq(r) for r in records["t"]] == list(range(6_000))
    assert [r[2] for r in records["t"]] == [t["event_time"] // 1000 for t in transactions]
    assert [r[0].decode() for r in records["t"]] == [t["customer_id"] for t in transactions]
    labels = [decode(v) for _, v, _, _ in records["l"]]
    first = [label["transaction_id"] for label in labels if label["revision"] == 0]
    revisions = [label["transaction_id"] for label in labels if label["revision"] == 1]
    assert len(first) + len(revisions) == len(labels)
    assert sorted(first) == sorted(t["transaction_id"] for t in transactions)  # one first label each
    charged_back = [t["transaction_id"] for t, r in zip(transactions, revised[:6_000], strict=True) if r]
    assert sorted(revisions) == sorted(charged_back)  # and a revision for each one charged back
    assert [r[2] for r in records["l"]] == [label["label_time"] // 1000 for label in labels]
    keys = [(label["label_time"], seq(r)) for label, r in zip(labels, records["l"], strict=True)]
    assert keys == sorted(keys)  # the labels topic runs in label-time order
    by_id = {t["transaction_id"]: (t, s) for t, s in zip(transactions, (seq(r) for r in records["t"]), strict=True)}
    first_time = {label["transaction_id"]: label["label_time"] for label in labels if label["revision"] == 0}
    for label, record in zip(labels, records["l"], strict=True):
        transaction, position = by_id[label["transaction_id"]]
        assert seq(record) == position and label["label_time"] >= transaction["event_time"]
        assert label["revision"] == 0 or label["label_time"] > first_time[label["transaction_id"]]
    traces = {dict(r[3])["traceparent"]: seq(r) for r in records["t"]}
    assert all(traces[dict(r[3])["traceparent"]] == seq(r) for r in records["l"])  # one trace per payment


@pytest.mark.parametrize("resume_at", [1, 2_345, 5_999, 6_000])
def test_resume_sends_what_an_uninterrupted_run_sends_after_that_position(small_world: World, resume_at: int) -> None:
    _, full = produce_run(small_world, Max())
    _, resumed = produce_run(small_world, Constant(50_000), from_seq=resume_at)
    assert contract(resumed["t"]) == contract(full["t"][resume_at:])
    last_time = decode(full["t"][resume_at - 1][1])["event_time"]
    expected = [r for r in full["l"] if (decode(r[1])["label_time"], seq(r)) > (last_time, resume_at - 1)]
    assert contract(resumed["l"]) == contract(expected)
    assert len(resumed["c"]) == 400  # the population again: compacted topics absorb the repeat


def test_two_shards_are_the_unsharded_run_key_by_key(small_world: World) -> None:
    _, whole = produce_run(small_world, Max())
    counts = Counter((int(k.split(b"-")[1]) - 1) % 2 for k, _, _, _ in whole["t"])  # customer ordinal from the id
    shares = [TransactionStream(StreamConfig(seed=11, customers=400, merchants=60, shard=(i, 2)),
                                small_world).shard_share(6_000) for i in range(2)]
    assert shares == [counts[0], counts[1]] and sum(shares) == 6_000
    shards = [produce_run(small_world, Max(), events=shares[i], shard=(i, 2))[1] for i in range(2)]

    def per_key(records: list[Record]) -> dict[bytes, list[tuple[bytes, int]]]:
        out: dict[bytes, list[tuple[bytes, int]]] = defaultdict(list)
        for key, value, timestamp, _ in records:
            out[key].append((value, timestamp))
        return out

    for topic in "cmtl":
        union = [r for shard in shards for r in shard[topic]]
        assert len(union) == len(whole[topic]), topic
        assert per_key(union) == per_key(whole[topic]), topic


@pytest.mark.parametrize("generator", ["thread", "process"])
def test_live_time_stamps_the_send_time_into_value_and_timestamp(small_world: World, generator: str) -> None:
    _, records = produce_run(small_world, Constant(2_000), events=3_000, time_mode="live", generator=generator)
    times = [decode(v)["event_time"] for _, v, _, _ in records["t"]]
    assert [r[2] for r in records["t"]] == [t // 1000 for t in times]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] - times[0] == pytest.approx(1.5e6, rel=0.01)  # 3,000 events at 2,000/s, in µs


def test_a_stop_request_ends_at_the_next_slice_and_keeps_pending_labels(small_world: World,
                                                                        revised: np.ndarray) -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    config = RunConfig(stream=StreamConfig(seed=11, customers=400, merchants=60), profile=Constant(1_000),
                       topics=TOPICS, events=None)
    run = ProduceRun(config, sink, world=small_world, clock=clock, sleep=clock.sleep,
                     on_stats=lambda snap: run.request_stop() if snap.position >= 2_000 else None)
    final = run.run()
    assert run.stopped_early
    assert 2_000 <= final.position == len(sink.records["t"]) <= 2_010
    # pending: the first labels and revisions of the sent transactions not sent yet
    scheduled = final.position + int(revised[:final.position].sum())
    assert final.pending_labels == scheduled - len(sink.records["l"]) > 0
    assert len(sink.records["l"]) == final.produced["l"]


def test_duration_ends_a_run_and_flushes_pending_labels(small_world: World, revised: np.ndarray) -> None:
    run, records = produce_run(small_world, Constant(1_000), events=None, duration_s=3.0)
    assert not run.stopped_early
    assert len(records["t"]) == pytest.approx(3_000, abs=5)
    assert len(records["l"]) == len(records["t"]) + int(revised[:len(records["t"])].sum())


def test_duration_counts_from_the_first_transaction_not_the_generators_start_up(
        small_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    original = producer_module.prepared_chunks

    def slow_to_start(plan: Any) -> Any:
        clock.sleep(10.0)  # a generator (process) that takes longer to start than the whole --duration
        yield from original(plan)

    monkeypatch.setattr(producer_module, "prepared_chunks", slow_to_start)
    sink = RecordingSink(clock)
    config = RunConfig(stream=StreamConfig(seed=11, customers=400, merchants=60), profile=Constant(1_000),
                       topics=TOPICS, events=None, duration_s=3.0)
    run = ProduceRun(config, sink, world=small_world, clock=clock, sleep=clock.sleep,
                     wall_us=lambda: int(clock.now * 1e6))
    final = run.run()
    assert len(sink.records["t"]) == pytest.approx(3_000, abs=5)
    assert final.streaming_s == pytest.approx(3.0, abs=0.1)


def test_the_generator_process_sends_what_the_thread_sends(small_world: World) -> None:
    _, threaded = produce_run(small_world, Max(), events=12_345)
    _, spawned = produce_run(small_world, Constant(50_000), events=12_345, generator="process")
    for topic in "cmtl":
        assert contract(spawned[topic]) == contract(threaded[topic]), topic
    _, resumed = produce_run(small_world, Max(), events=12_345, from_seq=10_001, generator="process")
    assert contract(resumed["t"]) == contract(threaded["t"][10_001:])


def test_process_prefetch_keeps_order_surfaces_a_failure_and_leaves_no_child() -> None:
    # builtins as targets: a spawned child imports its target by name, and test modules are not importable
    with ProcessPrefetch(iter, (list(range(7)),), depth=2) as prefetch:
        assert list(prefetch.items(wait=lambda: None)) == list(range(7))
    got = []
    with (ProcessPrefetch(map, (int, ["0", "1", "2", "x"]), depth=2) as prefetch,
          pytest.raises(PrefetchFailed, match="ValueError: invalid literal")):
        for item in prefetch.items(wait=lambda: None):
            got.append(item)
    assert got == [0, 1, 2]
    with ProcessPrefetch(itertools.count, (), depth=2) as prefetch:  # endless: closed while the child waits
        assert next(iter(prefetch.items(wait=lambda: None))) == 0
    assert not prefetch._process.is_alive()


def test_prefetch_keeps_order_and_surfaces_a_failure() -> None:
    def items() -> Iterable[int]:
        yield from range(5)
        raise RuntimeError("generator broke")

    waits: list[int] = []
    with ThreadPrefetch(iter(items()), depth=2) as prefetch:
        got = []
        with pytest.raises(RuntimeError, match="generator broke"):
            for item in prefetch.items(wait=lambda: waits.append(1)):
                got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_a_chunk_with_no_revisions_crosses_the_process_boundary() -> None:
    """What the generator process sends is a pickle; a chunk whose rows have no revision (often the last
    chunk of a resumed run) must come back whole, not fail in __setstate__."""
    n = 3
    chunk = Chunk(7, np.arange(n), np.arange(n), np.zeros(n, dtype=np.int64), np.full(n, -1),
                  values=[b"a", b"bc", b""], labels=np.array([b"x", b"y", b"z"], dtype=object),
                  revisions=np.empty(0, dtype=object))
    back = pickle.loads(pickle.dumps(chunk))
    assert back.values == [b"a", b"bc", b""] and back.labels.tolist() == [b"x", b"y", b"z"]
    assert back.revisions is not None and len(back.revisions) == 0 and back.first == 7
