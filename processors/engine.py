"""The processor's per-worker core, free of Kafka: state per customer, features, scoring, delayed learning.

The Kafka loop (`processors.worker`) decodes records and decides *when* a transaction may be scored
(merchant risk final, see `processors.risk`); this module decides *what* happens:

- `prepare(partition, record)`: the customer's `CustomerHistory` gives the features (as the reference
  `processors.features.reference_features` does, merchant risk from the replica as of the event time)
  and the model input; `score_prepared(batch)` scores a batch of prepared transactions at once, and
  each model input waits in its customer's `pending` for the label. `score` does both for one.
- `label(partition, facts)`: the label is attached to its pending transaction and counted in the
  prequential AUCs at once (the score was given before), but the model learns it only once a
  transaction at or after the label's time has been scored: learning follows event time, as in production
  where a label cannot be used before it exists. Learning on arrival instead would let a worker reading a
  backlog learn labels from hours ahead of the transactions it scores, and overstate the AUCs.
- A label that arrives before its transaction is scored waits in the customer's `early` labels.

Everything a restart needs is in `CustomerState` (written per touched customer by the worker) and the
model checkpoint; `dirty` says which customers changed since the worker last wrote them.
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

from processors.features import FEATURE_NAMES, Txn
from processors.model_input import COLUMNS, model_row
from processors.risk import RiskReplica
from processors.scoring import FraudModel
from processors.state import CustomerState, Pending
from processors.wire import LabelFacts


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
    states: dict[int, dict[str, CustomerState]] = field(default_factory=dict)
    dirty: dict[int, set[str]] = field(default_factory=dict)
    counters: EngineCounters = field(default_factory=EngineCounters)
    # (label_time, txn id, partition, customer): labelled pending transactions, learnt in label-time order
    _due: list[tuple[int, str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # a legitimate label is learned when crc32(transaction id) < cut, with weight 1 / share
        self._negative_cut = int(self.learn_negatives * 2**32)
        self._negative_weight = 1.0 / self.learn_negatives if self.learn_negatives > 0 else 0.0

    # -- partitions -------------------------------------------------------------------------------

    def assign(self, partition: int, states: dict[str, CustomerState]) -> None:
        """Own `partition`, with its customers' states as restored from the state topic."""
        self.states[partition] = states
        self.dirty[partition] = set()
        for customer, state in states.items():
            for txn_id, pending in state.pending.items():
                if pending.label is not None:
                    heapq.heappush(self._due, (pending.label[1], txn_id, partition, customer))

    def revoke(self, partition: int) -> None:
        self.states.pop(partition, None)
        self.dirty.pop(partition, None)  # the worker wrote them before giving the partition up

    # -- events -----------------------------------------------------------------------------------

    def label(self, partition: int, facts: LabelFacts) -> None:
        states = self.states[partition]
        state = states.get(facts.customer_id)
        if state is None:
            state = states[facts.customer_id] = CustomerState()
        pending = state.pending.get(facts.transaction_id)
        if pending is not None:
            if pending.label is not None:
                return  # a re-sent label
            pending.label = (facts.is_fraud, facts.label_time)
            if not math.isnan(pending.score):  # else prepared, not scored yet: scoring counts it
                self.model.quality.update(pending.score, facts.is_fraud)
                heapq.heappush(self._due, (facts.label_time, facts.transaction_id, partition, facts.customer_id))
        elif state.history.last is not None and facts.event_time <= state.history.last.time_us:
            self.counters.stale_labels += 1  # its transaction was scored and learned (or expired) already
            return
        else:
            state.early[facts.transaction_id] = (facts.is_fraud, facts.label_time)
        self.dirty[partition].add(facts.customer_id)

    def learn_until(self, t: int) -> None:
        """Learn every label with label_time <= t (in label-time order). Every fraud is learned; of the
        legitimate ones, the share `learn_negatives` chosen by transaction id, each weighted by its
        inverse so the model's calibration stays that of learning them all (River's learn_one is the
        cost that limits a worker; bench/RESULTS.md has the quality with and without sampling)."""
        due, model = self._due, self.model
        cut, weight = self._negative_cut, self._negative_weight
        while due and due[0][0] <= t:
            _, txn_id, partition, customer = heapq.heappop(due)
            state = self.states.get(partition, {}).get(customer)
            pending = state.pending.pop(txn_id, None) if state is not None else None
            if pending is None or pending.label is None:
                continue  # partition given away, or expired
            self.dirty[partition].add(customer)
            if pending.label[0]:
                model.learn(np.frombuffer(pending.x), True)
            elif zlib.crc32(txn_id.encode()) < cut:
                model.learn(np.frombuffer(pending.x), False, weight)
            else:
                self.counters.not_learned += 1
                continue
            self.counters.learned += 1

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
        if not self.risk.exact(t):
            self.counters.inexact_risk += 1
        features = history.features(txn, home, self.risk.rate(txn.merchant_id, t))
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
                heapq.heappush(self._due, (pending.label[1], txn_id, prepared.partition, record["customer_id"]))
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
        """Drop pending transactions and early labels older than `before_us` (the max label delay
        behind the newest event time); returns how many customers changed."""
        changed = 0
        for partition, states in self.states.items():
            for customer, state in states.items():
                if state.expire(before_us):
                    self.dirty[partition].add(customer)
                    changed += 1
        return changed

    def pending_count(self) -> int:
        return sum(len(s.pending) for states in self.states.values() for s in states.values())
