"""The produce run: population first, then transactions at the profile's pace, labels at their label time.

`ProduceRun(config, outlet).run()` publishes the customers and merchants of this shard to their compacted
topics and waits for them to be acknowledged, then generates and encodes the stream in chunks
(`producers.chunks`: encoding is column-wise, so big chunks are cheap) ahead of the sender, on a
thread or in a child process (`RunConfig.generator`, see `producers.prefetch`), and sends each chunk in
the slices the `Pacer` releases (a couple of milliseconds' worth at high rates). Labels wait in a
`LabelSchedule` and go out when the stream's clock (the event time of the last transaction sent)
reaches their label time; a finite run (`events` or `duration_s`) ends by sending the labels still
pending, each with its own label time as timestamp. A stop request (SIGINT/SIGTERM) ends it at the
next slice; pending labels then stay unsent, for a resumed run.

The run first sends its RunInfo record (`producers.run_config`); each record's topic, key, timestamp and
headers are `producers.record_writer`'s.

Controls (`producers.control`, given a `Controller`): between two slices the run applies what the control API
or a replayed control log asks for: a new profile (`Pacer.switch`), a pause, an incident
(`producers.incidents`), whose rows are merged into the stream in event time. In simulated time a slice
is cut where the next replayed control or incident row is due, so both land where a replay puts them.

Resuming (`from_seq=K`) re-sends transactions from position K and exactly the labels an uninterrupted
run sends after transaction K-1: those of transactions >= K, and those of earlier transactions whose
label time is after transaction K-1's event time (found by regenerating positions < K, not sending
them). K is safe (no gap) when every earlier transaction is in the topic and every label due by then:
take K = 1 + the least `synfin-seq` among the last records of all partitions of the transactions and
labels topics (a label's time is never before its transaction's). Records at positions >= K that the
killed run had delivered are sent again: at-least-once, duplicates only there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers.chunks import Chunk, ChunkPlan, cached_head, prepared_chunks, store_head
from synfinance.producers.control import Control, Controller
from synfinance.producers.events import EventColumns
from synfinance.producers.ids import scenario_id
from synfinance.producers.incidents import Incident, PendingIncidents
from synfinance.producers.pacing import Columns, LabelBatch, LabelSchedule, Pacer
from synfinance.producers.prefetch import ProcessPrefetch, ThreadPrefetch
from synfinance.producers.profile_syntax import parse_profile
from synfinance.producers.rates import Poisson
from synfinance.producers.record_writer import RecordWriter
from synfinance.producers.records import RecordEncoder
from synfinance.producers.run_config import RunConfig
from synfinance.producers.run_stats import RecordOutlet, Snapshot
from synfinance.producers.stream import TransactionStream, World

FLUSH_TIMEOUT_S = 330.0  # librdkafka fails a message after message.timeout.ms (300 s): flush outlasts it


class Stopped(Exception):
    """Raised inside a pacing wait when a stop was requested or the duration ran out."""


class ProduceRun:
    """One produce run (see the module docstring). `wall_us` is the live-mode clock (UTC µs)."""

    def __init__(self, config: RunConfig, outlet: RecordOutlet, world: World | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall_us: Callable[[], int] = lambda: time.time_ns() // 1000,
                 on_stats: Callable[[Snapshot], None] | None = None, stats_interval_s: float = 1.0,
                 started: float | None = None, controller: Controller | None = None) -> None:
        if config.from_seq < 0:
            raise ValueError("--from-seq must be >= 0")
        if config.from_seq and config.time_mode == "live":
            raise ValueError("--from-seq resumes a simulated-time run; live event times cannot be replayed")
        self.config, self.outlet = config, outlet
        self.stream = TransactionStream(config.stream, world)
        self.clock, self.sleep, self.wall_us = clock, sleep, wall_us
        self.on_stats, self.stats_interval_s = on_stats, stats_interval_s
        self.live = config.time_mode == "live"
        rng = np.random.default_rng(config.stream.seed) if isinstance(config.profile, Poisson) else None
        self.pacer = Pacer(config.profile, clock=clock, sleep=self._wait, rng=rng)
        self.schedule = LabelSchedule()
        self.position = config.from_seq
        self.stop_requested = False
        self.stopped_early = False
        world = self.stream.world
        self.encoder = RecordEncoder(world, config.codec.prefix("transaction"), config.codec.prefix("label"))
        self.writer = RecordWriter(config, outlet, world, self.live)
        self.keys = self.writer.keys
        self._start = clock()
        self._stream_start: float | None = None  # when the first transaction could go
        self._next_tick = self._start + stats_interval_s
        self._last_live_us = 0
        self._started = started  # the process's start on `clock` (None: this run's start)
        self._records_before_stream: int | None = None  # sent before the first transaction
        self._first_ack: float | None = None
        self.controller = controller
        self.incidents = PendingIncidents(world, self.stream.members, config.stream.delays, config.stream.seed)
        self._last_event_us = config.stream.start_us  # the stream's clock: the event time of the last sent

    def request_stop(self) -> None:
        """Ask the run to stop at the next slice (safe to call from a signal handler)."""
        self.stop_requested = True

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Snapshot:
        self._start, self._stream_start = self.clock(), None
        if self._started is None:
            self._started = self._start
        self._next_tick = self._start + self.stats_interval_s
        if self.controller is not None:
            self.controller.start(lambda: self.clock() - self._start)
        try:
            config = self.config
            plan = ChunkPlan(config.stream, self.stream.world, config.events, config.from_seq,
                             encode=not self.live, codec=config.codec)
            head, whole = self._usable_head(plan)
            with self._prefetch(plan, whole) as chunks:  # the generator starts while the population goes out
                self._publish_run_info()
                if config.publish_population:
                    self._publish_population()
                self._transactions(plan, chunks, head)
            self._send_incident_rows(None)  # what an incident planned past the last transaction
        except Stopped:
            pass
        finally:
            if self.controller is not None:
                self.controller.close()
        self.stopped_early = self.stop_requested
        if not self.stopped_early:  # a finished run leaves no label behind: the dataset is complete
            self._send_labels(self.schedule.drain())
        self.outlet.flush(FLUSH_TIMEOUT_S, tick=self._tick)
        return self.snapshot(done=True)

    def _publish_run_info(self) -> None:
        # timestamped like the population, and flushed with it before the first transaction
        self.writer.run_info((self.wall_us() if self.live else self.config.stream.start_us) // 1000)

    def _publish_population(self) -> None:
        updated_us = self.wall_us() if self.live else self.config.stream.start_us
        self.writer.population(self.stream.members.tolist(), updated_us, between=self._check_stop)
        # entities are in the log before any transaction that refers to them
        self.outlet.flush(FLUSH_TIMEOUT_S, tick=self._tick)

    def _prefetch(self, plan: ChunkPlan, nothing_to_generate: bool) -> ProcessPrefetch | ThreadPrefetch:
        if nothing_to_generate:  # the cached head is the whole run: no generator to start (and stop at once)
            return ThreadPrefetch(iter(()))
        return (ProcessPrefetch(prepared_chunks, (plan,)) if self.config.generator == "process"
                else ThreadPrefetch(prepared_chunks(plan)))

    def _usable_head(self, plan: ChunkPlan) -> tuple[Chunk | None, bool]:
        """The stream's first chunk as a run of the same plan generated it (`chunks.cached_head`), if it may go
        first; and whether it is the whole run."""
        head = cached_head(plan)
        whole = head is not None and plan.events is not None and len(head) >= plan.events
        if head is not None and not whole and not self._head_outlasts_generator(len(head)):
            head = None  # sent in a blink, then a stall for the generator: a paced run would burst after it
        return head, whole

    def _transactions(self, plan: ChunkPlan, chunks: ProcessPrefetch | ThreadPrefetch, head: Chunk | None) -> None:
        if head is not None:
            self._take(head)
        for chunk in chunks.items(wait=self._wait_for_chunk):
            if chunk.first == 0 and head is not None:  # already sent from the cache: not again
                if not (np.array_equal(chunk.time_us, head.time_us) and np.array_equal(chunk.customer, head.customer)):
                    raise RuntimeError("the cached first chunk differs from the generator's: the world cache is "
                                       "inconsistent (remove $SYNFIN_CACHE_DIR/worlds)")
                continue
            if chunk.first == 0:
                store_head(plan, chunk)
            self._take(chunk)

    def _head_outlasts_generator(self, events: int) -> bool:
        """Whether `events` at the profile's pace last longer than the generator needs for its next chunk
        (its start and first block: ~1.2 s for the default 10,000 customers, growing with the population):
        only then does a cached head go first without a gap after it."""
        events_by = getattr(self.config.profile, "events_by", None)  # paced profiles; not max, diurnal, replay
        needs_s = 2.0 + self.config.stream.customers / 5_000
        return events_by is not None and events_by(needs_s) <= events

    def _take(self, chunk: Chunk) -> None:
        if self._stream_start is None:  # --duration counts streaming time, from the first chunk: not
            self._stream_start = self.clock()  # the population nor the generator's start-up
        if chunk.resumed is not None:
            self.schedule.add(**chunk.resumed)
            self.schedule.due(chunk.resumed_at)  # sent by the killed run before it got this far: drop
        if len(chunk):
            self._send_chunk(chunk)

    def _send_chunk(self, chunk: Chunk) -> None:
        n = len(chunk)
        traces = self.writer.traces(n)
        if not self.live:
            keys = self.keys[chunk.customer].tolist()
            timestamps = (chunk.time_us // 1000).tolist()
            revised_rows = np.flatnonzero(chunk.revision_delay_us >= 0)
        i = 0
        while i < n:
            self._between_slices(int(chunk.time_us[i]))
            m = min(self.pacer.suggest_batch_size(), self._slice_limit(chunk, i))
            self.pacer.acquire(m, chunk.time_us[i:i + m])
            j, first = i + m, chunk.first + i
            if self.live:
                assert chunk.events is not None
                self._send_rows(chunk.events.slice(i, j), np.arange(first, first + m, dtype=np.int64), traces[i:j])
            else:
                assert chunk.values is not None and chunk.labels is not None and chunk.revisions is not None
                self._send_transactions(chunk.values[i:j], keys[i:j], timestamps[i:j], range(first, first + m),
                                        traces[i:j])
                a, b = np.searchsorted(revised_rows, (i, j))
                rows = revised_rows[a:b]
                self._schedule_labels(LabelBatch(
                    time_us=chunk.time_us[i:j], label_delay_us=chunk.label_delay_us[i:j], customer=chunk.customer[i:j],
                    position=np.arange(first, first + m, dtype=np.int64), value=chunk.labels[i:j], trace=traces[i:j],
                    revised=rows - i, revision_delay_us=chunk.revision_delay_us[rows],
                    revision_value=chunk.revisions[a:b]))
                self._last_event_us = int(chunk.time_us[j - 1])
            self.position = chunk.first + j
            i = j
            self._tick()
            self._check_stop()

    def _send_rows(self, part: EventColumns, positions: npt.NDArray[np.int64], traces: npt.NDArray[np.bytes_]) -> None:
        """Encode and send rows that travel unencoded (live time, incidents) and schedule their labels."""
        if self.live:
            part = self._restamped(part)
        self._send_transactions(self.encoder.encode_transactions(part), self.keys[part.customer].tolist(),
                                (part.time_us // 1000).tolist(), positions.tolist(), traces)
        labels = np.empty(len(part), dtype=object)
        labels[:] = self.encoder.encode_labels(part)
        revised, revision_values = self.encoder.encode_revisions(part)
        revisions = np.empty(len(revised), dtype=object)
        revisions[:] = revision_values
        self._schedule_labels(LabelBatch(
            time_us=part.time_us, label_delay_us=part.label_delay_us, customer=part.customer, position=positions,
            value=labels, trace=traces, revised=revised, revision_delay_us=part.revision_delay_us[revised],
            revision_value=revisions))
        self._last_event_us = max(self._last_event_us, int(part.time_us[-1]))

    # -- controls (producers.control) -------------------------------------------------------------

    def _between_slices(self, next_time_us: int) -> None:
        """Before a slice: the controls due, a pause held, and the incident rows due before the next transaction."""
        if self.controller is not None:
            self.controller.apply_due(self)
            while self.pacer.paused:
                self._idle()
                self.controller.apply_due(self)
        if len(self.incidents):
            self._send_incident_rows(next_time_us)

    def _slice_limit(self, chunk: Chunk, i: int) -> int:
        """The most events the slice from row i may hold: up to the next replayed control's position, and
        (simulated time) up to the next incident row, so both land exactly where a replay puts them."""
        limit = len(chunk) - i
        at = self.controller.next_position() if self.controller is not None else None
        if at is not None and at > chunk.first + i:
            limit = min(limit, at - chunk.first - i)
        if len(self.incidents) and not self.live:
            first = self.incidents.first_time_us()
            limit = min(limit, max(1, int(np.searchsorted(chunk.time_us[i:i + limit], first, side="right"))))
        return limit

    def _send_incident_rows(self, before_us: int | None) -> None:
        """Send the planned incident rows due: in simulated time those before `before_us` (the next
        transaction's event time; None: all), in live time those whose time has come."""
        if not len(self.incidents):
            return
        live = self.live and before_us is not None
        rows = self.incidents.take(self.wall_us() if live else before_us, inclusive=live)
        if n := len(rows):
            self._send_rows(rows, np.full(n, self.position, dtype=np.int64), self.writer.traces(n))

    def apply_control(self, control: Control) -> dict[str, Any]:
        """Apply one control (on the run's thread, between slices); what it did. ValueError: refused."""
        if control.action == "profile":
            profile = parse_profile(str(control.value))
            if isinstance(profile, Poisson) and self.pacer.rng is None:
                self.pacer.rng = np.random.default_rng(self.config.stream.seed)
            self.pacer.switch(profile)
            return {"profile": str(profile)}
        if control.action == "pause":
            self.pacer.pause()
            return {}
        if control.action == "resume":
            paused_s = self.pacer.resume()
            if self._stream_start is not None:  # --duration counts time spent streaming
                self._stream_start += paused_s
            return {"paused_s": paused_s}
        start_us = self.wall_us() if self.live else self._last_event_us
        scenario = self.incidents.add(Incident.from_dict(control.value), start_us)
        return {"scenario_id": scenario_id(self.stream.world.sid, scenario), "start_us": start_us}

    def hold_paused(self, seconds: float | None) -> float:
        """Stay paused `seconds` (a replayed pause), serving deliveries and stats; honours a stop."""
        deadline = self.clock() + (seconds or 0.0)
        while self.clock() < deadline:
            self._idle(min(0.05, max(deadline - self.clock(), 0.0)))
        return seconds or 0.0

    def _idle(self, seconds: float = 0.05) -> None:
        self._check_stop()
        self.outlet.service(seconds)
        self._tick()

    def status(self) -> dict[str, Any]:
        """The live statistics and the controls' state (the control API's GET /status)."""
        return {**dataclasses.asdict(self.snapshot()), "profile": str(self.pacer.profile),
                "incidents": self.incidents.applied, "incident_transactions_pending": len(self.incidents)}

    def _restamped(self, part: EventColumns) -> EventColumns:
        """Live time: event time = the wall clock at send, strictly increasing (1 µs apart at least)."""
        base = max(self.wall_us(), self._last_live_us + 1)
        self._last_live_us = base + len(part) - 1
        return dataclasses.replace(part, time_us=base + np.arange(len(part), dtype=np.int64))

    def _send_transactions(self, values: list[bytes], keys: list[bytes], timestamps: list[int],
                           positions: Iterable[int], traces: npt.NDArray[np.bytes_]) -> None:
        if self._records_before_stream is None:
            self._records_before_stream = self.outlet.produced_total
        self.writer.transactions(values, keys, timestamps, positions, traces)

    def _schedule_labels(self, batch: LabelBatch) -> None:
        """Schedule a slice's labels, then send those due by its last transaction's event time."""
        self.schedule.add_labels(batch)
        self._send_labels(self.schedule.due(int(batch.time_us[-1])))

    def _send_labels(self, due: Columns) -> None:
        if due:
            self.writer.labels(due)

    # -- waiting, stopping, stats -----------------------------------------------------------------

    def _out_of_time(self) -> bool:
        limit, since = self.config.duration_s, self._stream_start
        return limit is not None and since is not None and self.clock() - since >= limit

    def _check_stop(self) -> None:
        if self.stop_requested or self._out_of_time():
            raise Stopped

    def _wait_for_chunk(self) -> None:
        """While the prefetch thread is behind: keep serving reports and stats, and honour a stop."""
        self._check_stop()
        self.outlet.service()
        self._tick()

    def _wait(self, seconds: float) -> None:
        """The pacer's sleep: serve delivery reports and stats while waiting, stop if asked to."""
        deadline = self.clock() + seconds
        while True:
            self._check_stop()
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            if remaining > 0.005:
                # poll() wakes early on a report; a millisecond short, then the precise sleep below
                self.outlet.service(min(remaining - 0.001, 0.1))
                self._tick()
            else:
                self.sleep(remaining)

    def _tick(self) -> None:
        self._startup_s()  # noted when it happens, not at the next stats interval
        if self.controller is not None:
            self.controller.serve_status(self)
        if self.on_stats is not None and self.clock() >= self._next_tick:
            self._next_tick = max(self._next_tick + self.stats_interval_s, self.clock())
            self.on_stats(self.snapshot())

    def _startup_s(self) -> float | None:
        """Process start -> the first record after the population acknowledged (the first transaction's
        slice: its transactions go before its labels), once it is."""
        before = self._records_before_stream
        if self._first_ack is None and before is not None and self.outlet.delivered_total > before:
            self._first_ack = self.clock()
        return None if self._first_ack is None else self._first_ack - (self._started or self._start)

    def snapshot(self, done: bool = False) -> Snapshot:
        outlet, pacer = self.outlet, self.pacer
        p50, p99 = outlet.tracker.percentiles(50, 99)
        return Snapshot(
            elapsed_s=self.clock() - self._start,
            streaming_s=0.0 if self._stream_start is None else self.clock() - self._stream_start,
            produced=dict(outlet.produced), delivered=outlet.delivered_total,
            failed=outlet.failed_total, in_flight=outlet.in_flight, target_rate=pacer.target_rate(),
            achieved_rate=pacer.achieved_rate(), latency_p50_s=p50, latency_p99_s=p99, position=self.position,
            pending_labels=len(self.schedule), warning=outlet.last_warning, done=done, startup_s=self._startup_s(),
            paused=self.pacer.paused)
