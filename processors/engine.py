"""The processor's per-worker core, free of Kafka: state per customer, features, scoring, delayed learning.

The Kafka loop (`processors.worker`) decodes records and decides *when* a transaction may be scored
(merchant risk final, see `processors.risk`); this module decides *what* happens:

- `prepare(partition, record)`: the customer's `CustomerHistory` gives the features (as the reference
  `processors.features.reference_features` does, merchant risk from the replica as of `risk_as_of` the event time)
  and the model input; `score_prepared(batch)` scores a batch of prepared transactions at once, and
  each model input waits in its customer's `pending` for the label. `score` does both for one.
- `label(partition, facts)`: the label is attached to its pending transaction and counted in the
  prequential AUCs at once (the score was given before), but the model learns it only once a
  transaction at or after the label's time has been scored: learning follows event time, as in production
  where a label cannot be used before it exists. Learning on arrival instead would let a worker reading a
  backlog learn labels from hours ahead of the transactions it scores, and overstate the AUCs.
- A label that arrives before its transaction is scored waits in the customer's `early` labels.
- Revisions (`revision` > 0; the highest revision of a transaction is the truth, e.g. a chargeback of a
  transaction first confirmed legitimate) wait in the customer's `revisions` until their label time, as
  labels do, and are then applied: to a transaction whose first label is not learned yet, as that label;
  to one learned already, as a correction, from the input kept in `inputs` (`processors.labelled_inputs`,
  every labelled transaction for `max_label_delay_us`): the prequential AUCs count the transaction under
  its new label instead of the old, the old learning step is undone to first order (River's
  LogisticRegression cannot unlearn: a step of the old label with the negated weight, at today's
  weights), and the new label is learned under the rule of a first label (frauds weight 1; legitimate
  ones sampled and weighted by the inverse share), so a revised transaction weighs in the model as one
  that only ever had its latest label. A revision at or below one seen is a no-op (`stale_revisions`).

Everything a restart needs is in `CustomerState` (written per touched customer by the worker), the
labelled inputs' records (`drain_inputs()`, written by the worker) and the model checkpoint; `dirty`
says which customers changed since the worker last wrote them.
"""

from __future__ import annotations

import heapq
import math
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synfinance.processors.features import FEATURE_NAMES, Txn, risk_as_of
from synfinance.processors.labelled_inputs import FLAG_FRAUD, FLAG_LEARNED, HeldInput, LabelledInputs
from synfinance.processors.model_input import COLUMNS, model_row
from synfinance.processors.risk import RiskReplica
from synfinance.processors.scoring import FraudModel
from synfinance.processors.state import CustomerState, Label, Pending, Revision
from synfinance.processors.wire import LabelFacts


class UnknownCustomer(LookupError):
    """A transaction of a customer whose record (home) is not on the customers topic."""


@dataclass
class EngineCounters:
    scored: int = 0
    alerts: int = 0
    learned: int = 0
    not_learned: int = 0  # legitimate labels left out by the learning sample
    duplicates: int = 0  # transactions at or before the customer's last one: already scored
    stale_labels: int = 0  # labels of transactions already learned (re-sent) or expired
    inexact_risk: int = 0  # merchant risk asked for behind the replica's fold point
    revisions_learned: int = 0  # revisions the model learned (as a correction, or as the first label)
    revisions_not_learned: int = 0  # input no longer held (expired, evicted), or the verdict unchanged
    stale_revisions: int = 0  # a revision at or below one seen for its transaction: a no-op
    inputs_evicted: int = 0  # labelled inputs dropped by the count cap before the end of their window


_ROW = struct.Struct(f"<{len(COLUMNS)}d")  # a model input row as bytes (what `Pending.x` holds)


@dataclass
class Scored:
    """One scored transaction: the ScoredTransaction record, and the Alert record if it alerts."""

    scored: dict[str, Any]
    alert: dict[str, Any] | None


@dataclass
class Prepared:
    """A transaction with its features and model input, waiting to be scored in a batch."""

    partition: int
    record: dict[str, Any]
    features: dict[str, Any]
    row: list[float]
    pending: Pending
    received: float | None  # wall clock when consumed


@dataclass
class ScoredBatch:
    """Transactions scored together: one model version and one processing time for all of them."""

    prepared: list[Prepared]
    scores: np.ndarray
    model_version: str
    processed_at: float  # wall clock (time.time())
    alerts: list[dict[str, Any]]

    def latency_ms(self, prepared: Prepared) -> float:
        return (self.processed_at - prepared.received) * 1000.0 if prepared.received is not None else 0.0

    def records(self) -> list[dict[str, Any]]:
        """The ScoredTransaction records (the worker encodes the same values column-wise)."""
        processed_at = int(self.processed_at * 1e6)
        return [{"transaction_id": p.record["transaction_id"], "customer_id": p.record["customer_id"],
                 "event_time": p.record["event_time"], "amount_paise": p.record["amount_paise"],
                 "features": {name: p.features[name] for name in FEATURE_NAMES}, "score": score,
                 "model_version": self.model_version, "processed_at": processed_at,
                 "processing_latency_ms": self.latency_ms(p)}
                for p, score in zip(self.prepared, self.scores.tolist(), strict=True)]


@dataclass
class Engine:
    """States of the customers of the owned partitions, the model, and the learning queue."""

    model: FraudModel
    risk: RiskReplica
    homes: Mapping[str, tuple[float, float]]
    worker: str = "w0"
    threshold: float = 0.5
    # an unfitted logistic regression scores everything 0.5: no alerts until it has learned this many labels
    alert_warmup: int = 1_000
    learn_negatives: float = 0.2  # share of legitimate labels learned (frauds: all)
    max_inputs: int = 4_000_000  # labelled inputs kept for revisions, all partitions (oldest evicted)
    states: dict[int, dict[str, CustomerState]] = field(default_factory=dict)
    dirty: dict[int, set[str]] = field(default_factory=dict)
    inputs: dict[int, LabelledInputs] = field(default_factory=dict)
    counters: EngineCounters = field(default_factory=EngineCounters)
    # (label_time, txn id, partition, customer, revision): labels and revisions to apply, in label-time order
    _due: list[tuple[int, str, int, str, int]] = field(default_factory=list)
    # per partition, labelled inputs on their way into `inputs` (added a commit's worth at a time)
    _keep: dict[int, list[tuple[str, int, float, int, int, bytes]]] = field(default_factory=dict)
    _inputs_before: int = -(2**63)  # inputs of transactions older than this are expired

    def __post_init__(self) -> None:
        # a legitimate label is learned when crc32(transaction id) < cut, with weight 1 / share
        self._negative_cut = int(self.learn_negatives * 2**32)
        self._negative_weight = 1.0 / self.learn_negatives if self.learn_negatives > 0 else 0.0

    # -- partitions -------------------------------------------------------------------------------

    def assign(self, partition: int, states: dict[str, CustomerState], inputs: LabelledInputs | None = None) -> None:
        """Own `partition`, with its customers' states and labelled inputs as restored from their topics."""
        self.states[partition] = states
        self.dirty[partition] = set()
        self.inputs[partition] = inputs if inputs is not None else LabelledInputs()
        for customer, state in states.items():
            for txn_id, pending in state.pending.items():
                if pending.label is not None:
                    heapq.heappush(self._due, (pending.label[1], txn_id, partition, customer, pending.label[2]))
            for txn_id, (_, label_time, revision, _) in state.revisions.items():
                heapq.heappush(self._due, (label_time, txn_id, partition, customer, revision))
        self._cap_inputs()

    def revoke(self, partition: int) -> None:
        self.states.pop(partition, None)
        self.dirty.pop(partition, None)  # the worker wrote them before giving the partition up
        self.inputs.pop(partition, None)
        self._keep.pop(partition, None)

    # -- events -----------------------------------------------------------------------------------

    def label(self, partition: int, facts: LabelFacts) -> None:
        states = self.states[partition]
        state = states.get(facts.customer_id)
        if state is None:
            state = states[facts.customer_id] = CustomerState()
        if facts.revision > 0:
            self._revision_arrived(partition, state, facts)
            return
        pending = state.pending.get(facts.transaction_id)
        if pending is not None:
            if pending.label is not None:
                return  # a re-sent label
            pending.label = (facts.is_fraud, facts.label_time, 0)
            if not math.isnan(pending.score):  # else prepared, not scored yet: scoring counts it
                self.model.quality.update(pending.score, facts.is_fraud)
                heapq.heappush(self._due, (facts.label_time, facts.transaction_id, partition, facts.customer_id, 0))
        elif state.history.last is not None and facts.event_time <= state.history.last.time_us:
            self.counters.stale_labels += 1  # its transaction was scored and learned (or expired) already
            return
        elif facts.transaction_id in state.early:
            return  # a re-sent label, or the transaction's revision is there already
        else:
            state.early[facts.transaction_id] = (facts.is_fraud, facts.label_time, 0)
        self.dirty[partition].add(facts.customer_id)

    def _revision_arrived(self, partition: int, state: CustomerState, facts: LabelFacts) -> None:
        """Schedule a revision at its label time, unless one as high is known (then it is a no-op)."""
        txn_id, revision = facts.transaction_id, facts.revision
        pending = state.pending.get(txn_id)
        known = [label[2] for label in (state.revisions.get(txn_id), state.early.get(txn_id),
                                        pending.label if pending is not None else None) if label is not None]
        last = state.history.last
        if pending is None and txn_id not in state.early and last is not None and facts.event_time <= last.time_us:
            held = self.held(partition, txn_id)  # scored and labelled already (or expired)
            if held is None and not known:
                self.counters.revisions_not_learned += 1  # its input is no longer held
                return
            if held is not None:
                known.append(held.revision)
        if known and revision <= max(known):
            self.counters.stale_revisions += 1
            return
        state.revisions[txn_id] = (facts.is_fraud, facts.label_time, revision, facts.event_time)
        heapq.heappush(self._due, (facts.label_time, txn_id, partition, facts.customer_id, revision))
        self.dirty[partition].add(facts.customer_id)

    def learn_until(self, t: int) -> None:
        """Learn every label and apply every revision with label_time <= t (in label-time order). Every
        fraud is learned; of the legitimate ones, the share `learn_negatives` chosen by transaction id,
        each weighted by its inverse so the model's calibration stays that of learning them all (River's
        learn_one is the cost that limits a worker; bench/RESULTS.md has the quality with and without
        sampling). A learned transaction's input moves to `inputs`, for a revision to come."""
        due, states = self._due, self.states
        while due and due[0][0] <= t:
            label_time, txn_id, partition, customer, revision = heapq.heappop(due)
            state = states.get(partition, {}).get(customer)
            if state is None:
                continue  # partition given away
            scheduled = state.revisions.get(txn_id)
            if scheduled is not None and scheduled[1] == label_time and scheduled[2] == revision:
                self._apply_revision(partition, customer, state, txn_id, scheduled)
                continue
            pending = state.pending.get(txn_id)
            if pending is not None and pending.label is not None and pending.label[1] == label_time:
                self._learn_first(partition, customer, state, txn_id)
            # else: expired, or superseded by a higher revision (scheduled again)

    def _learn(self, x: np.ndarray, is_fraud: bool, txn_id: str) -> bool:
        """Learn a transaction's label under the sampling rule; True if the model learned it."""
        if is_fraud:
            self.model.learn(x, True)
        elif zlib.crc32(txn_id.encode()) < self._negative_cut:
            self.model.learn(x, False, self._negative_weight)
        else:
            self.counters.not_learned += 1
            return False
        self.counters.learned += 1
        return True

    def _learn_first(self, partition: int, customer: str, state: CustomerState, txn_id: str) -> None:
        """Learn a pending transaction's label; its input moves to the labelled inputs."""
        pending = state.pending.pop(txn_id)
        assert pending.label is not None
        is_fraud, _, revision = pending.label
        learned = self._learn(np.frombuffer(pending.x), is_fraud, txn_id)
        self.dirty[partition].add(customer)
        keep = self._keep.get(partition)
        if keep is None:
            keep = self._keep[partition] = []
        keep.append((txn_id, pending.event_time, pending.score, FLAG_FRAUD * is_fraud | FLAG_LEARNED * learned,
                     revision, pending.x))

    def _apply_revision(self, partition: int, customer: str, state: CustomerState, txn_id: str,
                        scheduled: Revision) -> None:
        del state.revisions[txn_id]
        self.dirty[partition].add(customer)
        is_fraud, label_time, revision, event_time = scheduled
        label: Label = (is_fraud, label_time, revision)
        pending = state.pending.get(txn_id)
        if pending is not None:  # its first label is not learned yet (or has not come): learn this one
            if not math.isnan(pending.score):
                if pending.label is None:
                    self.model.quality.update(pending.score, is_fraud)
                else:
                    self.model.quality.relabel(pending.score, pending.label[0], is_fraud)
            pending.label = label
            self._learn_first(partition, customer, state, txn_id)
            self.counters.revisions_learned += 1
            return
        last = state.history.last
        if txn_id in state.early or last is None or event_time > last.time_us:
            state.early[txn_id] = label  # not scored yet: it will be learned with this label
            self.counters.revisions_learned += 1
            return
        held = self.held(partition, txn_id)
        if held is None:
            self.counters.revisions_not_learned += 1
        elif held.revision >= revision:
            self.counters.stale_revisions += 1
        elif held.is_fraud == is_fraud:
            self.inputs[partition].update(held, is_fraud, held.learned, revision)
            self.counters.revisions_not_learned += 1  # the same verdict: nothing to learn
        else:
            self._correct(self.inputs[partition], held, is_fraud, revision)

    def _correct(self, inputs: LabelledInputs, held: HeldInput, is_fraud: bool, revision: int) -> None:
        """Learn a revised verdict of a transaction learned (or left out) under another one."""
        x = held.x()
        if not math.isnan(held.score):
            self.model.quality.relabel(held.score, held.is_fraud, is_fraud)
        if held.learned:  # undo the earlier step, to first order
            self.model.learn(x, held.is_fraud, -(1.0 if held.is_fraud else self._negative_weight))
        inputs.update(held, is_fraud, self._learn(x, is_fraud, held.txn_id), revision)
        self.counters.revisions_learned += 1

    def held(self, partition: int, txn_id: str) -> HeldInput | None:
        """The labelled input kept for a transaction of `partition`, None if none is (any more)."""
        self.flush_inputs()
        inputs = self.inputs.get(partition)
        held = inputs.find(txn_id) if inputs is not None else None
        return held if held is not None and held.event_time >= self._inputs_before else None

    def flush_inputs(self) -> None:
        """Move the inputs of transactions learned since the last flush into `inputs` (before a lookup, and
        before the worker drains their records: a commit's worth is one batch of numpy work)."""
        for partition, keep in self._keep.items():
            if keep:
                self.inputs[partition].add(keep)
        self._keep.clear()
        self._cap_inputs()

    def drain_inputs(self) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """Per partition, the labelled inputs' records of what changed since the last drain."""
        self.flush_inputs()
        return {partition: inputs.drain() for partition, inputs in self.inputs.items()}

    def _cap_inputs(self) -> None:
        """Evict the oldest chunks of labelled inputs while there are more than `max_inputs`."""
        held = self.inputs_count()
        while held > self.max_inputs:
            oldest = min((inputs for inputs in self.inputs.values() if len(inputs)),
                         key=lambda inputs: inputs.oldest_event_time() or 0)
            evicted = oldest.evict_oldest()
            self.counters.inputs_evicted += evicted
            held -= evicted

    def prepare(self, partition: int, record: dict[str, Any], received: float | None = None) -> Prepared | None:
        """Features and model input of a transaction, and the customer's history moved past it; None for a
        duplicate. `score_prepared` scores it (before any learning the next transactions may bring)."""
        customer, t = record["customer_id"], record["event_time"]
        home = self.homes.get(customer)
        if home is None:
            raise UnknownCustomer(f"customer {customer} is not on the customers topic (no home location)")
        states = self.states[partition]
        state = states.get(customer)
        if state is None:
            state = states[customer] = CustomerState()
        history = state.history
        if history.last is not None and t <= history.last.time_us:
            self.counters.duplicates += 1  # a customer's event times strictly increase: seen already
            return None
        txn = Txn.from_record(record)
        as_of = risk_as_of(t)
        if not self.risk.exact(as_of):
            self.counters.inexact_risk += 1
        features = history.features(txn, home, self.risk.rate(txn.merchant_id, as_of))
        history.update(txn)
        row = model_row(features, record)
        txn_id = record["transaction_id"]
        pending = state.pending[txn_id] = Pending(t, math.nan, _ROW.pack(*row), state.early.pop(txn_id, None))
        self.dirty[partition].add(customer)
        return Prepared(partition, record, features, row, pending, received)

    def score_prepared(self, batch: list[Prepared]) -> ScoredBatch:
        """Score prepared transactions at once with the model as it is, then learn the labels due by the
        newest of them."""
        now = time.time()
        rows = np.array([p.row for p in batch]) if batch else np.empty((0, len(COLUMNS)))
        scores = self.model.score_rows(rows)
        self.model.observe(rows)  # the scaler learns the traffic once it has been scored
        version = self.model.version(self.worker)
        alerting = self.model.learned >= self.alert_warmup
        alerts: list[dict[str, Any]] = []
        newest = None
        for prepared, score in zip(batch, scores.tolist(), strict=True):
            pending, record = prepared.pending, prepared.record
            pending.score = score
            txn_id = record["transaction_id"]
            if pending.label is not None:
                self.model.quality.update(score, pending.label[0])
                heapq.heappush(self._due, (pending.label[1], txn_id, prepared.partition, record["customer_id"],
                                           pending.label[2]))
            if score >= self.threshold and alerting:
                alerts.append({"alert_id": f"A-{txn_id}", "transaction_id": txn_id,
                               "customer_id": record["customer_id"], "event_time": record["event_time"],
                               "score": score, "threshold": self.threshold, "model_version": version,
                               "reasons": self.model.reasons(prepared.row), "created_at": int(now * 1e6)})
            if newest is None or record["event_time"] > newest:
                newest = record["event_time"]
        self.counters.scored += len(batch)
        self.counters.alerts += len(alerts)
        if newest is not None:
            self.learn_until(newest)
        return ScoredBatch(batch, scores, version, now, alerts)

    def score(self, partition: int, record: dict[str, Any], received: float | None = None) -> Scored | None:
        """One transaction: `prepare` + `score_prepared`; None for a duplicate."""
        prepared = self.prepare(partition, record, received)
        if prepared is None:
            return None
        batch = self.score_prepared([prepared])
        return Scored(batch.records()[0], batch.alerts[0] if batch.alerts else None)

    def expire(self, before_us: int) -> int:
        """Drop pending transactions, early labels, revisions and labelled inputs older than `before_us`
        (the max label delay behind the newest event time); returns how many customers changed."""
        changed = 0
        for partition, states in self.states.items():
            for customer, state in states.items():
                if state.expire(before_us):
                    self.dirty[partition].add(customer)
                    changed += 1
        self._inputs_before = max(self._inputs_before, before_us)
        self.flush_inputs()
        for inputs in self.inputs.values():
            inputs.expire(before_us)
        return changed

    def pending_count(self) -> int:
        return sum(len(s.pending) for states in self.states.values() for s in states.values())

    def inputs_count(self) -> int:
        return sum(len(inputs) for inputs in self.inputs.values()) + sum(len(k) for k in self._keep.values())
