"""Merchant fraud rate as of any event time, from every label on every partition (a per-worker replica).

Merchant risk is the one feature that is not per customer: a merchant's rate counts the labels of all
customers, i.e. of all partitions, while a worker owns only some. So every worker reads *all* labels and
all transactions (labels do not name the merchant: a label is joined to its transaction by id) into this
replica, which is a pure function of the two topics' contents, the same in every worker.

The rate a transaction at event time `t` gets is the reference's (`processors.features`): labels with
`label_time <= t`, smoothed towards `RISK_PRIOR`. Queries are *as of* `t` (per merchant, sorted label
times and a bisection), because a worker interleaves its partitions and so does not score in global
event-time order. `ready(t)` says whether that answer is final: every label partition has delivered a
label later than `t` (the producer sends each partition's labels in label-time order) and every label up
to `t` has been joined to its transaction. The worker holds a transaction until then, so the feature does
not depend on when labels happen to arrive on the wall clock.

Memory: unjoined transactions (until their label, dropped after the maximum label delay), and individual
label times for `fold_lag_us` of event time behind the slowest transaction partition; older labels are
folded into per-merchant counts. A query older than the fold point is inexact (`exact(t)` is False).

>>> from processors.wire import LabelFacts, TransactionFacts
>>> replica = RiskReplica(label_partitions=1, max_label_delay_us=10**9)
>>> replica.add_transaction(TransactionFacts("T1", 100, "C1", "M1"), partition=0)
>>> replica.add_label(LabelFacts("T1", "C1", 100, True, 150), partition=0)
>>> replica.ready(200), replica.ready(149)
(False, True)
>>> round(replica.rate("M1", 149), 4), round(replica.rate("M1", 150), 4)
(0.02, 0.0667)
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

from processors.features import DAY_US, RISK_PRIOR, RISK_WEIGHT
from processors.wire import LabelFacts, TransactionFacts

DEFAULT_FOLD_LAG_US = 2 * DAY_US


@dataclass
class RiskCounters:
    """What the replica did that is worth a metric."""

    labels_joined: int = 0
    duplicates: int = 0  # a transaction or label seen again (a resumed producer re-sends a tail)
    orphans: int = 0  # labels whose transaction never came (or was joined before: a re-sent label)
    expired: int = 0  # transactions whose label did not come within the maximum label delay


class RiskReplica:
    """Every label joined to its transaction's merchant, queryable as of an event time."""

    def __init__(self, label_partitions: int, max_label_delay_us: int,
                 fold_lag_us: int = DEFAULT_FOLD_LAG_US) -> None:
        self.max_label_delay_us = max_label_delay_us
        self.fold_lag_us = fold_lag_us
        self.counters = RiskCounters()
        self.label_frontier: list[int | None] = [None] * label_partitions  # last label_time per partition
        self._watermark: int | None = None  # min of label_frontier, None while a partition has none
        self.txn_frontier: dict[int, int] = {}  # last event_time per transaction partition
        self.fold_point = -(2**63)
        self._merchant_of: dict[str, tuple[str | None, int]] = {}  # unjoined: txn id -> (merchant, event time)
        self._arrivals: deque[tuple[int, str]] = deque()  # (event time, txn id), to expire unjoined ones
        self._waiting: dict[str, LabelFacts] = {}  # labels that came before their transaction
        self._waiting_order: list[tuple[int, str]] = []  # heap of (label_time, txn id), lazily cleaned
        self._joined: dict[str, int] = {}  # txn id -> label_time, until folded: recognises re-sent records
        self._unfolded: list[tuple[int, str, str | None, bool]] = []  # heap (label_time, txn id, merchant, fraud)
        self._base: dict[str, tuple[int, int]] = {}  # merchant -> folded (labels, frauds)
        self._label_times: dict[str, list[int]] = {}  # merchant -> sorted label times after the fold point
        self._fraud_times: dict[str, list[int]] = {}

    # -- input ------------------------------------------------------------------------------------

    def add_transaction(self, facts: TransactionFacts, partition: int) -> None:
        if facts.event_time > self.txn_frontier.get(partition, -(2**63)):
            self.txn_frontier[partition] = facts.event_time
        txn_id = facts.transaction_id
        if txn_id in self._joined or txn_id in self._merchant_of:
            self.counters.duplicates += 1
            return
        label = self._waiting.pop(txn_id, None)
        if label is not None:
            self._join(label, facts.merchant_id)
            return
        self._merchant_of[txn_id] = (facts.merchant_id, facts.event_time)
        self._arrivals.append((facts.event_time, txn_id))

    def add_label(self, facts: LabelFacts, partition: int) -> None:
        frontier = self.label_frontier[partition]
        if frontier is None or facts.label_time > frontier:
            self.label_frontier[partition] = facts.label_time
            if frontier is None or frontier == self._watermark:
                self._watermark = _watermark(self.label_frontier)
        txn_id = facts.transaction_id
        if txn_id in self._joined or txn_id in self._waiting:
            self.counters.duplicates += 1
            return
        known = self._merchant_of.pop(txn_id, None)
        if known is not None:
            self._join(facts, known[0])
        else:
            self._waiting[txn_id] = facts
            heapq.heappush(self._waiting_order, (facts.label_time, txn_id))

    def _join(self, label: LabelFacts, merchant_id: str | None) -> None:
        self.counters.labels_joined += 1
        if label.label_time <= self.fold_point:  # far behind: straight into the folded counts
            if merchant_id is not None:  # the reference ignores labels of transactions without a merchant
                labels, frauds = self._base.get(merchant_id, (0, 0))
                self._base[merchant_id] = (labels + 1, frauds + label.is_fraud)
            return
        self._joined[label.transaction_id] = label.label_time
        heapq.heappush(self._unfolded, (label.label_time, label.transaction_id, merchant_id, label.is_fraud))
        if merchant_id is None:
            return
        _insort(self._label_times.setdefault(merchant_id, []), label.label_time)
        if label.is_fraud:
            _insort(self._fraud_times.setdefault(merchant_id, []), label.label_time)

    # -- queries ----------------------------------------------------------------------------------

    @property
    def label_watermark(self) -> int | None:
        """Every label with label_time < this has arrived (None until every partition sent one)."""
        return self._watermark

    def ready(self, t: int) -> bool:
        """True when `rate(m, t)` is final: all labels with label_time <= t are in and joined."""
        watermark = self._watermark
        if watermark is None or watermark <= t:
            return False
        waiting = self._waiting_order
        while waiting and waiting[0][0] <= t:
            label = self._waiting.get(waiting[0][1])
            if label is not None and not self._orphaned(label):
                return False
            heapq.heappop(waiting)
            if label is not None:
                del self._waiting[label.transaction_id]
                self.counters.orphans += 1
        return True

    def _orphaned(self, label: LabelFacts) -> bool:
        # every transaction partition is past the label's event time and its transaction did not come
        return bool(self.txn_frontier) and min(self.txn_frontier.values()) > label.event_time

    def exact(self, t: int) -> bool:
        """False if labels before `t` have been folded away (a query far behind the replica)."""
        return t >= self.fold_point

    def rate(self, merchant_id: str | None, t: int) -> float:
        """Smoothed fraud rate of the merchant from labels with label_time <= t (as the reference)."""
        if merchant_id is None:
            return RISK_PRIOR
        labels, frauds = self._base.get(merchant_id, (0, 0))
        times = self._label_times.get(merchant_id)
        if times:
            labels += bisect_right(times, t)
            fraud_times = self._fraud_times.get(merchant_id)
            if fraud_times:
                frauds += bisect_right(fraud_times, t)
        # the same expression, in the same order, as MerchantRisk.rate: bit-identical results
        return (frauds + RISK_PRIOR * RISK_WEIGHT) / (labels + RISK_WEIGHT)

    def pending_sizes(self) -> dict[str, int]:
        return {"unjoined_transactions": len(self._merchant_of), "waiting_labels": len(self._waiting),
                "unfolded_labels": len(self._unfolded)}

    # -- bounding memory --------------------------------------------------------------------------

    def compact(self, floor: int | None) -> None:
        """Fold labels `fold_lag_us` behind both the slowest transaction partition and `floor`, the oldest
        event time the caller may still ask about (None: unknown, fold nothing); expire unjoined
        transactions older than the maximum label delay. Cost: the work it removes."""
        if not self.txn_frontier:
            return
        slowest = min(self.txn_frontier.values())
        if floor is not None:
            fold_point = min(slowest, floor) - self.fold_lag_us
            if fold_point > self.fold_point:
                self._fold(fold_point)
        cutoff = slowest - self.max_label_delay_us
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < cutoff:
            _, txn_id = arrivals.popleft()
            if self._merchant_of.pop(txn_id, None) is not None:
                self.counters.expired += 1

    def _fold(self, fold_point: int) -> None:
        unfolded, touched = self._unfolded, set()
        while unfolded and unfolded[0][0] <= fold_point:
            _, txn_id, merchant_id, _ = heapq.heappop(unfolded)
            del self._joined[txn_id]
            if merchant_id is not None:
                touched.add(merchant_id)
        for merchant_id in touched:
            labels, frauds = self._base.get(merchant_id, (0, 0))
            times = self._label_times[merchant_id]
            cut = bisect_right(times, fold_point)
            del times[:cut]
            fraud_times = self._fraud_times.get(merchant_id, [])
            fraud_cut = bisect_right(fraud_times, fold_point)
            del fraud_times[:fraud_cut]
            self._base[merchant_id] = (labels + cut, frauds + fraud_cut)
        self.fold_point = fold_point


def _watermark(frontiers: list[int | None]) -> int | None:
    if any(frontier is None for frontier in frontiers):
        return None
    return min(frontier for frontier in frontiers if frontier is not None)


def _insort(times: list[int], value: int) -> None:
    # labels arrive almost in label-time order: appending is the common case
    if not times or times[-1] <= value:
        times.append(value)
    else:
        times.insert(bisect_right(times, value), value)
