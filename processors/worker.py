"""One processor worker: a confluent-kafka consume-score-produce loop with exactly-once output.

Why not a Faust agent: Faust's per-event machinery caps a worker near 6k events/s before any work
(notes/measured.md, re-measured by bench/bench_process.py); the features and the model need most of a
core on their own. Faust hosts this loop (`processors.app`): lifecycle, signals, web, metrics.

Clients, per worker:
- the *group* consumer: transactions and labels of the worker's partitions (range assignment, so a worker
  owns the same partition numbers of both topics: a customer's labels come to the worker with its state);
- the *replica* consumer: every partition of customers (homes), transactions and labels, from the start,
  for merchant risk (`processors.risk`), paced so it stays a little ahead of the group consumer;
- one transactional producer. Each Kafka transaction holds the scored records, alerts and dead letters of
  a commit interval, the states of the customers changed in it (compacted `<group>-state-changelog`,
  partitioned like the transactions), the labelled inputs kept for label revisions that changed in it
  (compacted `<group>-labelled-inputs`, likewise; `processors.labelled_inputs`), the model checkpoint
  (`<group>-model-checkpoints`) and the group offsets. A worker killed at any point restarts from its
  last commit with matching state, labelled inputs and model, and read_committed consumers see each
  scored record once, whichever worker produced it.
Each scored record and alert carries its transaction's W3C `traceparent` on: the same trace id and flags, a new
parent id (the worker's step; `common.trace`); a transaction without a valid one gives outputs without one.

A transaction is scored once merchant risk as of its event time's day (`features.risk_as_of`) is final
(`RiskReplica.ready`) and its partition's labels have passed its event time (what the model may learn); a live
one also once the wall clock is a second past it and every label partition is read to its end (labels are sent
at their label time: nothing earlier can still come); else after `max_hold_s` of waiting for the label
watermark (then counted in `synfin_risk_hold_timeouts_total`).
"""

from __future__ import annotations

import gc
import logging
import pickle
import time
from collections import deque
from typing import Any, NamedTuple

import numpy as np
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from synfinance.common.dead_letters import headers as dead_letter_headers
from synfinance.common.e2e import LIVE_WINDOW_S, is_live, live_delays
from synfinance.common.errors import Conflict
from synfinance.common.kafka_logging import client_logging
from synfinance.common.otel import batch_span, batch_tracer
from synfinance.common.trace import TRACE_HEADER, child_traceparents, header_value
from synfinance.processors.engine import Engine, Prepared, UnknownCustomer
from synfinance.processors.features import risk_as_of
from synfinance.processors.fencing import GroupFence
from synfinance.processors.kafka_io import (
    TransactionalProducer,
    ensure_compacted,
    partition_counts,
    read_to_end,
)
from synfinance.processors.labelled_inputs import LabelledInputs
from synfinance.processors.metrics import ProcessorMetrics
from synfinance.processors.outputs import ScoredEncoder
from synfinance.processors.replica import ReplicaReader
from synfinance.processors.scoring import FraudModel
from synfinance.processors.state import CustomerState, dumps, loads
from synfinance.processors.watchdog import Watchdog
from synfinance.processors.wire import NULL_KEY, NULL_VALUE, LabelFacts, decode_rows
from synfinance.processors.worker_config import WorkerConfig
from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import CodecError

log = logging.getLogger(__name__)

# a live label is appended within this of its label time and fetched within fetch.wait.max.ms (0.5 s)
LIVE_LABEL_GRACE_S = 1.0
SESSION_TIMEOUT_S = 10.0  # a dead worker's partitions move after this, not the default 45 s
EXPIRY_INTERVAL_S = 30.0  # wall seconds between passes dropping pending entries older than the label delay

# what the engine reads of a Transaction (features, model input, output records)
TRANSACTION_FIELDS = ("transaction_id", "customer_id", "event_time", "amount_paise", "merchant_id", "device_id",
                      "city", "latitude", "longitude", "status", "payee_vpa", "channel", "entry_mode",
                      "transaction_type", "payment_mode")


class PartitionsLost(RuntimeError):
    """The group gave this worker's partitions to others (its session timed out, say during a broker
    outage): its open transaction must not commit, and a fresh worker resumes from the last commit."""


class Held(NamedTuple):
    """A consumed transaction waiting to be scored (or a poison one waiting to be dead-lettered in order)."""

    message: Message
    record: dict[str, Any] | None
    error: Exception | None
    received: float  # wall clock (time.time())


def _unless_poison(message: Message, row: dict[str, Any] | CodecError) -> dict[str, Any] | CodecError:
    """The decoded row, or why the record is poison: a null value (a tombstone) or a null key (the customer
    id routes a customer's transactions and labels to one partition) is a dead letter like bad bytes."""
    if message.value() is None:
        return CodecError(NULL_VALUE)
    if message.key() is None:
        return CodecError(NULL_KEY)
    return row


class Worker:
    """`run()` until `stop()` (or idleness); see the module docstring."""

    def __init__(self, config: WorkerConfig, metrics: ProcessorMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or ProcessorMetrics()
        self.stopping = False
        self.ready = False
        self.last_commit = 0.0
        self.assigned_at = 0.0  # monotonic time of the latest assignment
        self.watchdog = Watchdog(config.stall_s)  # the host watches it (processors.app)
        topics = config.topics
        counts = partition_counts(config.kafka, [topics.customers, topics.transactions, topics.labels])
        if counts[topics.transactions] != counts[topics.labels]:
            raise ValueError(f"{topics.transactions} and {topics.labels} must have the same partition count "
                             f"(co-partitioned by customer), not {counts[topics.transactions]} and "
                             f"{counts[topics.labels]}")
        self.partitions = counts[topics.transactions]
        ensure_compacted(config.kafka, config.state_topic, self.partitions)
        ensure_compacted(config.kafka, config.inputs_topic, self.partitions)
        ensure_compacted(config.kafka, config.checkpoint_topic, 1)
        self._checkpointed = (-1, -1)  # (labels learned, labels counted in the AUCs) of the last checkpoint
        self._next_expiry = 0.0
        self._learned_reported = self._inexact_reported = 0
        self.replica = ReplicaReader(config.kafka, topics, counts, config.max_label_delay_us, config.lookahead_us)
        try:
            self._build(config)
        except BaseException:  # a client made before the failure is closed, not left for the GC
            self._close_clients()
            raise

    def _build(self, config: WorkerConfig) -> None:
        """The rest of the worker once the replica exists: restores, encoders, the producer and the consumer."""
        topics = config.topics
        self.replica.load_homes()
        self.engine = Engine(self._restore_model(), self.replica.risk, self.replica.homes, worker=config.worker_id,
                             threshold=config.threshold, learn_negatives=config.learn_negatives,
                             max_inputs=config.max_labelled_inputs)
        self.decoder = BatchDecoder("transaction")
        self.label_decoder = BatchDecoder("label")
        self.scored_encoder = ScoredEncoder(config.codec.prefix("scored_transaction"))
        self._trace_rng = np.random.default_rng()  # parent ids are random by design (not in the determinism contract)
        self.tracer = batch_tracer("synfinance-processor")  # None unless synfinance[otel] and an OTLP endpoint
        transactional_id = f"{config.group}-{config.worker_id}"
        self.fence = GroupFence(config.kafka, config.group, transactional_id)
        if not self.fence.wait_until_free(SESSION_TIMEOUT_S + 3.0):
            raise Conflict(f"another worker of group {config.group} runs with worker index {config.worker_id}: "
                             "give each its own --worker-index (or use --workers N)")
        self.producer = TransactionalProducer(config.kafka, transactional_id)
        self.held: dict[int, deque[Held]] = {}
        self.next_offset: dict[tuple[str, int], int] = {}
        self.paused: set[int] = set()
        self.frontier: int | None = None  # newest event time scored: the replica reads ahead of it
        self.last_scored: dict[int, int] = {}  # per owned partition
        # newest label_time the group consumer read per owned label partition: a transaction waits for its
        # partition's labels up to its event time too, so the model has learned what it could by then
        self.label_time: dict[int, int] = {}
        self.consumer = Consumer({**config.kafka, "group.id": config.group, "client.id": transactional_id,
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                  "partition.assignment.strategy": "range", **client_logging(),
                                  # a dead worker's partitions move within ~10 s, not the default 45 s
                                  # (librdkafka heartbeats from its own thread, so a busy loop stays in)
                                  "session.timeout.ms": int(SESSION_TIMEOUT_S * 1000), "heartbeat.interval.ms": 3_000})
        self.consumer.subscribe([topics.transactions, topics.labels], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)

    # -- lifecycle --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish: it commits what it did and leaves the group (safe from any thread)."""
        self.stopping = True

    def run(self) -> None:
        # the loop keeps millions of small containers alive (customer states, histories): with the default
        # thresholds the cyclic collector re-scans them every few hundred allocations (~6% of a worker's
        # CPU); it creates no reference cycles of its own, so collections can be rare
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        last_input = time.monotonic()
        next_compact = 0.0
        try:
            while not self.stopping:
                self.watchdog.beat()
                got = self.replica.pump(self.frontier)
                messages = self.consumer.consume(self.config.batch_size, timeout=0.02 if got else 0.1)
                now, wall = time.monotonic(), time.time()  # wall: received/latency times, as in the records
                if messages or got or not self.ready:
                    last_input = now  # idleness counts from the assignment on
                last_input = max(last_input, self.assigned_at)  # from the latest: a rebalance starts it again
                self._take(messages, wall)
                self._drain(wall)
                if now - self.last_commit >= self.config.commit_interval_s:
                    self._commit()
                if now >= next_compact:
                    self._compact()
                    next_compact = now + 1.0
                idle = self.config.stop_when_idle_s
                if idle is not None and now - last_input > idle and not any(self.held.values()):
                    break
            self._commit()
        finally:
            log.info("worker %s stops: %s; replica %s, %s; %d held", self.config.worker_id, self.engine.counters,
                     self.replica.risk.counters, self.replica.risk.pending_sizes(),
                     sum(len(q) for q in self.held.values()),
                     extra={"worker": self.config.worker_id, "held": sum(len(q) for q in self.held.values())})
            self.ready = False
            self._close_clients()

    def _close_clients(self) -> None:
        """Close what exists of the consumer (it leaves the group: the others take its partitions over at
        once), the producer, the replica and the tracer."""
        for name in ("consumer", "producer", "replica"):
            client = self.__dict__.get(name)
            if client is not None:
                client.close()
        tracer = self.__dict__.get("tracer")
        if tracer is not None:
            tracer.shutdown()

    # -- the loop ---------------------------------------------------------------------------------

    def _take(self, messages: list[Message], wall: float) -> None:
        """Labels go to the engine at once; transactions are decoded together and held in order."""
        transactions: list[Message] = []
        labels: list[Message] = []
        labels_topic = self.config.topics.labels
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("consume: %s", error, extra={"topic": message.topic(), "partition": message.partition(),
                                                         "error_code": error.name()})
                continue
            topic, partition = message.topic(), message.partition()
            self.next_offset[(topic, partition)] = message.offset() + 1
            (labels if topic == labels_topic else transactions).append(message)
        if labels:
            self._take_labels(labels)
        if not transactions:
            return
        values = [message.value() or b"" for message in transactions]
        topic = self.config.topics.transactions
        for message, row in zip(transactions, decode_rows(self.decoder, values, TRANSACTION_FIELDS), strict=True):
            row = _unless_poison(message, row)
            record, failure = (None, row) if isinstance(row, CodecError) else (row, None)
            partition = message.partition()
            queue = self.held[partition]
            queue.append(Held(message, record, failure, wall))
            if len(queue) >= self.config.max_buffered and partition not in self.paused:
                self.consumer.pause([TopicPartition(topic, partition)])
                self.paused.add(partition)

    def _take_labels(self, messages: list[Message]) -> None:
        values = [message.value() or b"" for message in messages]
        engine, label_time = self.engine, self.label_time
        for message, row in zip(messages, decode_rows(self.label_decoder, values, LabelFacts._fields), strict=True):
            row = _unless_poison(message, row)
            if isinstance(row, CodecError):
                self._dead_letter(message, row)
                continue
            facts, partition = LabelFacts(**row), message.partition()
            engine.label(partition, facts)
            label_time[partition] = max(label_time.get(partition, facts.label_time), facts.label_time)

    def _drain(self, wall: float) -> None:
        """Score, in batches of up to `score_batch`, every held transaction whose merchant risk is final."""
        risk, engine = self.replica.risk, self.engine
        topics, metrics = self.config.topics, self.metrics
        max_hold, chunk_size = self.config.max_hold_s, self.config.score_batch
        scored_before, alerts_before = engine.counters.scored, engine.counters.alerts
        chunk: list[tuple[Prepared, Held]] = []
        for partition, queue in self.held.items():
            while queue:
                held = queue[0]
                if held.record is None:
                    self._dead_letter(held.message, held.error or CodecError("undecodable"))
                    queue.popleft()
                    continue
                t = held.record["event_time"]
                if not (risk.ready(risk_as_of(t)) and self.label_time.get(partition, t) > t):
                    if self._live_caught_up(t, wall):
                        metrics.live_releases.inc()
                    elif wall - held.received < max_hold:
                        break
                    else:
                        metrics.hold_timeouts.inc()
                try:
                    prepared = engine.prepare(partition, held.record, held.received)
                except UnknownCustomer as exc:
                    self._dead_letter(held.message, exc)
                    queue.popleft()
                    continue
                queue.popleft()
                self.last_scored[partition] = t
                if self.frontier is None or t > self.frontier:
                    self.frontier = t
                if prepared is None:
                    metrics.duplicates.inc()
                    continue
                chunk.append((prepared, held))
                if len(chunk) >= chunk_size:
                    self._emit(chunk)
                    chunk = []
            if partition in self.paused and len(queue) < self.config.max_buffered // 2:
                self.consumer.resume([TopicPartition(topics.transactions, partition)])
                self.paused.discard(partition)
        if chunk:
            self._emit(chunk)
        metrics.processed.inc(engine.counters.scored - scored_before)
        metrics.alerts.inc(engine.counters.alerts - alerts_before)
        self.producer.poll()

    def _live_caught_up(self, t: int, wall: float) -> bool:
        """A live transaction need not wait for a later label: the producer sends each label at its label time,
        so once the wall clock is `LIVE_LABEL_GRACE_S` past the event time and every label partition has been
        read to its end, every label up to it is in. (A fresh live stream has no label for its first minutes:
        waiting for one would hold every transaction `max_hold_s`.) A simulated or replayed stream, whose event
        times are far from the wall clock, always waits for its labels, so its features stay exact."""
        age = wall - t / 1e6
        return LIVE_LABEL_GRACE_S <= age <= LIVE_WINDOW_S and self.replica.labels_caught_up()

    def _emit(self, chunk: list[tuple[Prepared, Held]]) -> None:
        """Score a batch of prepared transactions and produce their records (and alerts): one `score` span."""
        parents = [header_value(held.message.headers()) for _, held in chunk]
        with batch_span(self.tracer, "score", parents, **{"messaging.batch.message_count": len(chunk)}):
            self._score(chunk, parents)

    def _score(self, chunk: list[tuple[Prepared, Held]], parents: list[bytes | None]) -> None:
        batch = self.engine.score_prepared([prepared for prepared, _ in chunk])
        produce, topics = self.producer.produce, self.config.topics
        # each output carries its transaction's trace on, as a child: the same trace id, this step's parent id
        traces = child_traceparents(parents, self._trace_rng)
        headers = [None if trace is None else [(TRACE_HEADER, trace)] for trace in traces]
        for value, (prepared, held), header in zip(self.scored_encoder.encode(batch), chunk, headers, strict=True):
            produce(topics.scored, value, held.message.key(), held.message.timestamp()[1], header)
            self.metrics.latency.observe(batch.latency_ms(prepared) / 1000.0)
        now = time.time()
        if is_live(chunk[-1][1].message.timestamp()[1], now):
            for delay in live_delays([held.message.timestamp()[1] for _, held in chunk], now).tolist():
                self.metrics.e2e.observe(delay)
        if batch.alerts:
            # an alert comes from the same step as its score: the same traceparent
            keys = {prepared.record["transaction_id"]: (held.message, header)
                    for (prepared, held), header in zip(chunk, headers, strict=True)}
            for alert in batch.alerts:
                message, header = keys[alert["transaction_id"]]
                produce(topics.alerts, self.config.codec.encode("alert", alert), message.key(), message.timestamp()[1],
                        header)

    def _dead_letter(self, message: Message, error: Exception) -> None:
        headers = dead_letter_headers(message, type(error).__name__, str(error), "processor")
        self.producer.produce(self.config.topics.dlq, message.value() or b"", message.key(),
                              max(message.timestamp()[1], 0), headers)
        self.metrics.dead_letters.labels(topic=message.topic()).inc()
        log.warning("dead letter: %s [%d] offset %d: %s: %s", message.topic(), message.partition(), message.offset(),
                    type(error).__name__, error, extra={"topic": message.topic(), "partition": message.partition(),
                                                        "offset": message.offset(),
                                                        "error_class": type(error).__name__})

    def _commit(self) -> None:
        """States of changed customers, the model (if it learned), and the offsets, in one transaction."""
        engine, config = self.engine, self.config
        for partition, customers in engine.dirty.items():
            states = engine.states[partition]
            for customer in customers:
                self.producer.produce(config.state_topic, dumps(states[customer]), customer.encode(),
                                      partition=partition)
            customers.clear()
        for partition, records in engine.drain_inputs().items():
            for key, value in records:
                self.producer.produce(config.inputs_topic, value, key, partition=partition)
        # also when only the AUCs counted labels (they count on arrival): else a restart would lose them
        mark = (engine.model.learned, engine.model.quality.count)
        if mark != self._checkpointed:
            self.producer.produce(config.checkpoint_topic, engine.model.to_bytes(), config.checkpoint_key)
            self._checkpointed = mark
        offsets = []
        for (topic, partition), offset in self.next_offset.items():
            queue = self.held.get(partition) if topic == config.topics.transactions else None
            # a held transaction is not done: the next owner (or a restart) must read it again
            offsets.append(TopicPartition(topic, partition, queue[0].message.offset() if queue else offset))
        self.watchdog.beat("committing a Kafka transaction")
        self.producer.commit(offsets, self.consumer.consumer_group_metadata(),
                             on_retry=lambda error: self.watchdog.beat(f"retrying a commit after {error.name()}"))
        self.watchdog.beat()
        self.last_commit = time.monotonic()
        self.metrics.commits.inc()
        self.metrics.learned.inc(engine.counters.learned - self._learned_reported)
        self._learned_reported = engine.counters.learned
        self.metrics.inexact_risk.inc(engine.counters.inexact_risk - self._inexact_reported)
        self._inexact_reported = engine.counters.inexact_risk
        self.metrics.report_revisions(engine.counters.revisions_learned, engine.counters.revisions_not_learned,
                                      engine.counters.stale_revisions)
        quality = engine.model.quality
        self.metrics.roc_auc.set(quality.roc_auc())
        self.metrics.pr_auc.set(quality.pr_auc())
        self.metrics.held.set(sum(len(q) for q in self.held.values()))

    def _floor(self) -> int | None:
        """The oldest event time this worker may still score (None while a partition has no history)."""
        marks = []
        for partition, queue in self.held.items():
            head = next((h.record["event_time"] for h in queue if h.record is not None), None)
            mark = head if head is not None else self.last_scored.get(partition)
            if mark is None:
                return None
            marks.append(mark)
        return min(marks) if marks else None

    def _compact(self) -> None:
        floor = self._floor()
        self.replica.risk.compact(None if floor is None else risk_as_of(floor))
        now = time.monotonic()
        if now >= self._next_expiry:  # a pass over every customer: rarely (entries live for months anyway)
            if self.frontier is not None:
                self.engine.expire(self.frontier - self.config.max_label_delay_us)
            self.metrics.pending.set(self.engine.pending_count())
            self.metrics.labelled_inputs.set(self.engine.inputs_count())
            self._next_expiry = now + EXPIRY_INTERVAL_S

    # -- rebalances -------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        state_topic, inputs_topic = self.config.state_topic, self.config.inputs_topic
        owned = [tp.partition for tp in partitions if tp.topic == self.config.topics.transactions]
        restored: dict[int, dict[str, CustomerState]] = {p: {} for p in owned}
        records: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in owned}
        for message in read_to_end(self.config.kafka, [TopicPartition(topic, p) for topic in (state_topic, inputs_topic)
                                                       for p in owned]):
            value = message.value()
            if message.topic() == inputs_topic:
                records[message.partition()].append((message.key(), value))
            elif value is not None:
                restored[message.partition()][message.key().decode()] = loads(value)
        for partition, states in restored.items():
            self.engine.assign(partition, states, LabelledInputs.restore(records[partition]))
            self.held[partition] = deque()
        self.assigned_at = time.monotonic()
        log.info("assigned %s (%d customer states, %d labelled inputs restored)",
                 [(tp.topic, tp.partition) for tp in partitions], sum(len(s) for s in restored.values()),
                 self.engine.inputs_count(), extra={"worker": self.config.worker_id,
                                                    "partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions],
                                                    "states": sum(len(s) for s in restored.values())})
        self.fence.after_assignment()  # a member that died mid-transaction: its outputs must not stall
        self.ready = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit()  # what was done for these partitions is committed before another worker takes them
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # the group moved on without us: whatever this transaction holds must not be committed
        raise PartitionsLost(f"lost partitions {[(tp.topic, tp.partition) for tp in partitions]}")

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.next_offset.pop((tp.topic, tp.partition), None)
            if tp.topic == self.config.topics.transactions:
                self.engine.revoke(tp.partition)
                self.held.pop(tp.partition, None)
                self.last_scored.pop(tp.partition, None)
            else:
                self.label_time.pop(tp.partition, None)
                self.paused.discard(tp.partition)
        self.ready = bool(self.held)

    def _restore_model(self) -> FraudModel:
        latest = None
        for message in read_to_end(self.config.kafka, [TopicPartition(self.config.checkpoint_topic, 0)]):
            if message.key() == self.config.checkpoint_key:
                latest = message.value()
        if latest is None:
            return FraudModel()
        try:
            model = FraudModel.from_bytes(latest)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError) as exc:
            # fail closed and loudly: never run what a record says, never silently start unlearned
            raise RuntimeError(f"the model checkpoint on {self.config.checkpoint_topic} is unreadable or "
                               f"unsafe ({exc}); remove it to start a fresh model") from None
        self._checkpointed = (model.learned, model.quality.count)
        log.info("model restored from checkpoint (%d labels learned)", model.learned)
        return model
