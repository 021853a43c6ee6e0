"""The processor's per-worker core, free of Kafka: state per customer, features, scoring, delayed learning.

The Kafka loop (`processors.worker`) decodes records and decides *when* a transaction may be scored
(merchant risk final, see `processors.risk`); this module decides *what* happens:

- `score(partition, record)`: the customer's `CustomerHistory` gives the features (as the reference
  `processors.features.reference_features` does, merchant risk from the replica as of the event time),
  the model scores them, and the model input waits in the customer's `pending` for the label.
- `label(partition, facts)`: the label is attached to its pending transaction and counted in the
  prequential AUCs at once (the score was given before), but the model learns it only when a
  transaction at or after the label's time is scored: learning follows event time, as in production
  where a label cannot be used before it exists. Learning on arrival instead would let a worker reading a
  backlog learn labels from hours ahead of the transactions it scores, and overstate the AUCs.
- A label that arrives before its transaction is scored waits in the customer's `early` labels.

Everything a restart needs is in `CustomerState` (written per touched customer by the worker) and the
model checkpoint; `dirty` says which customers changed since the worker last wrote them.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.features import FEATURE_NAMES, Txn
from processors.model_input import model_input
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
    duplicates: int = 0  # transactions at or before the customer's last one: already scored
    stale_labels: int = 0  # labels of transactions already learned (re-sent) or expired
    inexact_risk: int = 0  # merchant risk asked for behind the replica's fold point


@dataclass
class Scored:
    """One scored transaction: the ScoredTransaction record, and the Alert record if it alerts."""

    scored: dict[str, Any]
    alert: dict[str, Any] | None


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
    states: dict[int, dict[str, CustomerState]] = field(default_factory=dict)
    dirty: dict[int, set[str]] = field(default_factory=dict)
    counters: EngineCounters = field(default_factory=EngineCounters)
    # (label_time, txn id, partition, customer): labelled pending transactions, learnt in label-time order
    _due: list[tuple[int, str, int, str]] = field(default_factory=list)

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
            self.model.quality.update(pending.score, facts.is_fraud)
            heapq.heappush(self._due, (facts.label_time, facts.transaction_id, partition, facts.customer_id))
        elif state.history.last is not None and facts.event_time <= state.history.last.time_us:
            self.counters.stale_labels += 1  # its transaction was scored and learned (or expired) already
            return
        else:
            state.early[facts.transaction_id] = (facts.is_fraud, facts.label_time)
        self.dirty[partition].add(facts.customer_id)

    def learn_until(self, t: int) -> None:
        """Learn every label with label_time <= t (in label-time order)."""
        due = self._due
        while due and due[0][0] <= t:
            _, txn_id, partition, customer = heapq.heappop(due)
            state = self.states.get(partition, {}).get(customer)
            pending = state.pending.pop(txn_id, None) if state is not None else None
            if pending is None or pending.label is None:
                continue  # partition given away, or expired
            self.model.learn(pending.x, pending.label[0])
            self.counters.learned += 1
            self.dirty[partition].add(customer)

    def score(self, partition: int, record: dict[str, Any], received: float | None = None) -> Scored | None:
        """Features, score and pending entry of a transaction; None for a duplicate."""
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
        self.learn_until(t)
        txn = Txn.from_record(record)
        if not self.risk.exact(t):
            self.counters.inexact_risk += 1
        features = history.features(txn, home, self.risk.rate(txn.merchant_id, t))
        history.update(txn)
        x = model_input(features, record)
        score = self.model.score(x)
        txn_id = record["transaction_id"]
        pending = state.pending[txn_id] = Pending(t, score, x, state.early.pop(txn_id, None))
        if pending.label is not None:
            self.model.quality.update(score, pending.label[0])
            heapq.heappush(self._due, (pending.label[1], txn_id, partition, customer))
        self.dirty[partition].add(customer)
        self.counters.scored += 1
        return self._records(record, features, score, x, received)

    def _records(self, record: dict[str, Any], features: dict[str, Any], score: float, x: dict[str, float],
                 received: float | None) -> Scored:
        now = time.time()
        version = self.model.version(self.worker)
        scored = {
            "transaction_id": record["transaction_id"], "customer_id": record["customer_id"],
            "event_time": record["event_time"], "amount_paise": record["amount_paise"],
            "features": {name: features[name] for name in FEATURE_NAMES},
            "score": score, "model_version": version, "processed_at": int(now * 1e6),
            "processing_latency_ms": (now - received) * 1000.0 if received is not None else 0.0,
        }
        alert = None
        if score >= self.threshold and self.model.learned >= self.alert_warmup:
            self.counters.alerts += 1
            alert = {"alert_id": f"A-{record['transaction_id']}", "transaction_id": record["transaction_id"],
                     "customer_id": record["customer_id"], "event_time": record["event_time"], "score": score,
                     "threshold": self.threshold, "model_version": version, "reasons": self.model.reasons(x),
                     "created_at": int(now * 1e6)}
        return Scored(scored, alert)

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
