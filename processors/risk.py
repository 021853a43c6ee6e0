"""Merchant fraud rate as of any event time, from every label on every partition (a per-worker replica).

Merchant risk is the one feature that is not per customer: a merchant's rate counts the labels of all
customers, i.e. of all partitions, while a worker owns only some. So every worker reads *all* labels and
all transactions (labels do not name the merchant: a label is joined to its transaction by id) into this
replica, which is a pure function of the two topics' contents, the same in every worker.

The rate of a merchant *as of* a label time `t` is the reference's (`processors.features`): labels with
`label_time <= t`, smoothed towards `RISK_PRIOR`; a transaction at event time `e` takes it as of
`risk_as_of(e)`, the end of the day before e's. Queries are as of any time (per merchant, sorted label
times and a bisection), because a worker interleaves its partitions and so does not score in global
event-time order. `ready(t)` says whether that answer is final: every label partition has delivered a
label later than `t` (the producer sends each partition's labels in label-time order) and every label up
to `t` has been joined to its transaction. The worker holds a transaction until then, so the feature does
not depend on when labels happen to arrive on the wall clock.

Revisions: a transaction counts once, under its latest label (the highest `revision` applied so far, in
label-time order; one not above it is a re-sent or older revision and ignored). A transaction counts
in its merchant's labels from its first label's time, and as a fraud from the label time of a label
saying fraud until that of a later one saying legitimate, so a chargeback turns a legitimate count into
a fraud one as of its own label time, as `processors.features.MerchantRisk` defines it. A revision joins
its transaction through `_settled`, a compact table (`processors.keyed_chunks`, ~27 bytes a row) of every
joined transaction's merchant and verdict, kept until no label may still come for it (the label watermark
is `max_label_delay_us` past its event time); a revision later than that after its event is ignored
(counted as an orphan), so what counts never depends on when the table dropped a row.

Memory: unjoined transactions (until their label, dropped after the maximum label delay), joined ones in
`_settled` (as above), and individual label times for `fold_lag_us` of event time behind the slowest
transaction partition. Older labels are folded into per-merchant counts, and into each merchant's counts
as of the end of every (IST) day (`_DayCounts`, 24 bytes a merchant-day). A transaction takes risk as of
a day's end (`features.risk_as_of`), so a query behind the fold point is still exact: a worker that takes
over a partition far behind the others (a dead worker's) scores it with the risk an undisturbed run
gives. Only a query behind the fold point at another time is inexact (`exact(t)` is False).

>>> from synfinance.processors.wire import LabelFacts, TransactionFacts
>>> replica = RiskReplica(label_partitions=1, max_label_delay_us=10**9)
>>> replica.add_transaction(TransactionFacts("T1", 100, "C1", "M1"), partition=0)
>>> replica.add_label(LabelFacts("T1", "C1", 100, True, 150), partition=0)
>>> replica.ready(200), replica.ready(149)
(False, True)
>>> round(replica.rate("M1", 149), 4), round(replica.rate("M1", 150), 4)
(0.02, 0.0667)
>>> replica.add_transaction(TransactionFacts("T2", 120, "C2", "M1"), partition=0)
>>> replica.add_label(LabelFacts("T2", "C2", 120, False, 160), partition=0)
>>> replica.add_label(LabelFacts("T2", "C2", 120, True, 300, revision=1), partition=0)  # a chargeback
>>> round(replica.rate("M1", 299), 4), round(replica.rate("M1", 300), 4)
(0.0636, 0.1091)
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass
from itertools import groupby

import numpy as np

from synfinance.common.units import DAY_US
from synfinance.processors.features import RISK_BUCKET_US, RISK_PRIOR, risk_as_of, smoothed_rate
from synfinance.processors.keyed_chunks import KeyedChunks, key_of
from synfinance.processors.wire import LabelFacts, TransactionFacts

DEFAULT_FOLD_LAG_US = 2 * DAY_US
_SETTLED = {"event_time": ("<i8", ()), "merchant": ("<i4", ()), "fraud": ("u1", ()), "revision": ("<i4", ())}
_SETTLE_BATCH = 4_096


@dataclass
class RiskCounters:
    """What the replica did that is worth a metric."""

    labels_joined: int = 0
    duplicates: int = 0  # a transaction or label seen again (a resumed producer re-sends a tail)
    orphans: int = 0  # labels whose transaction never came (or was joined before: a re-sent label)
    expired: int = 0  # transactions whose label did not come within the maximum label delay
    revisions: int = 0  # revisions that moved a transaction between fraud and legitimate


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
        self._waiting: dict[str, list[LabelFacts]] = {}  # labels that came before their transaction
        self._waiting_order: list[tuple[int, str]] = []  # heap of (label_time, txn id), lazily cleaned
        self._joined: dict[str, int] = {}  # txn id -> label_time, until folded: recognises re-sent records
        # heap (label_time, txn id, merchant, first label or a revision), folded in label-time order
        self._unfolded: list[tuple[int, str, str | None, bool]] = []
        self._base: dict[str, tuple[int, int]] = {}  # merchant -> folded (labels, frauds)
        self._days: dict[str, _DayCounts] = {}  # merchant -> folded (labels, frauds) as of each day's end
        self._label_times: dict[str, list[int]] = {}  # merchant -> sorted label times after the fold point
        self._fraud_times: dict[str, list[int]] = {}  # ... times a transaction became fraud
        self._unfraud_times: dict[str, list[int]] = {}  # ... times one stopped being fraud (a revision)
        self._settled = KeyedChunks(_SETTLED)  # joined transactions, for their revisions
        self._settling: list[tuple[int, int, int, bool, int]] = []  # joined since the last flush into it
        self._merchants: dict[str | None, int] = {None: -1}  # merchant id -> its number in `_settled`
        self._merchant_ids: list[str] = []

    # -- input ------------------------------------------------------------------------------------

    def add_transaction(self, facts: TransactionFacts, partition: int) -> None:
        if facts.event_time > self.txn_frontier.get(partition, -(2**63)):
            self.txn_frontier[partition] = facts.event_time
        txn_id = facts.transaction_id
        if txn_id in self._joined or txn_id in self._merchant_of:
            self.counters.duplicates += 1
            return
        labels = self._waiting.pop(txn_id, None)
        if labels is not None:
            self._join(labels[0], facts.merchant_id)
            for revision in labels[1:]:
                self._revise(revision)
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
        if facts.revision > 0:
            self._revise(facts)
            return
        if txn_id in self._joined or txn_id in self._waiting:
            self.counters.duplicates += 1
            return
        known = self._merchant_of.pop(txn_id, None)
        if known is not None:
            self._join(facts, known[0])
        else:
            self._wait(facts)

    def _wait(self, label: LabelFacts) -> None:
        self._waiting.setdefault(label.transaction_id, []).append(label)
        heapq.heappush(self._waiting_order, (label.label_time, label.transaction_id))

    def _join(self, label: LabelFacts, merchant_id: str | None) -> None:
        self.counters.labels_joined += 1
        merchant = self._merchants.get(merchant_id)
        if merchant is None:
            merchant = self._merchants[merchant_id] = len(self._merchant_ids)
            self._merchant_ids.append(merchant_id)  # type: ignore[arg-type]  # None is in the table already
        self._settling.append((key_of(label.transaction_id), label.event_time, merchant, label.is_fraud,
                               label.revision))
        if len(self._settling) >= _SETTLE_BATCH:
            self._settle()
        if label.label_time <= self.fold_point:  # far behind: straight into the folded counts
            if merchant_id is not None:  # the reference ignores labels of transactions without a merchant
                self._add_folded(merchant_id, label.label_time, 1, int(label.is_fraud))
            return
        self._joined[label.transaction_id] = label.label_time
        heapq.heappush(self._unfolded, (label.label_time, label.transaction_id, merchant_id, True))
        if merchant_id is None:
            return
        _insort(self._label_times.setdefault(merchant_id, []), label.label_time)
        if label.is_fraud:
            _insort(self._fraud_times.setdefault(merchant_id, []), label.label_time)

    def _revise(self, label: LabelFacts) -> None:
        """A label with revision > 0: the first label of an unjoined transaction, or a later verdict."""
        txn_id = label.transaction_id
        if label.label_time - label.event_time > self.max_label_delay_us:
            self.counters.orphans += 1  # later than a label may come: its transaction may be forgotten
            return
        known = self._merchant_of.pop(txn_id, None)
        if known is not None:
            self._join(label, known[0])
            return
        waiting = self._waiting.get(txn_id)
        if waiting is not None:
            if label.revision > waiting[-1].revision:
                self._wait(label)
            else:
                self.counters.duplicates += 1
            return
        self._settle()
        row = self._settled.find(key_of(txn_id))
        if row is None:
            self._wait(label)  # before its transaction (or without one: an orphan then)
            return
        if label.revision <= int(row.get("revision")):
            self.counters.duplicates += 1
            return
        row.set("revision", label.revision)
        if bool(row.get("fraud")) == label.is_fraud:
            return
        row.set("fraud", label.is_fraud)
        self.counters.revisions += 1
        merchant = int(row.get("merchant"))
        if merchant < 0:
            return
        merchant_id, t = self._merchant_ids[merchant], label.label_time
        if t <= self.fold_point:
            self._add_folded(merchant_id, t, 0, 1 if label.is_fraud else -1)
            return
        heapq.heappush(self._unfolded, (t, txn_id, merchant_id, False))
        _insort((self._fraud_times if label.is_fraud else self._unfraud_times).setdefault(merchant_id, []), t)

    def _settle(self) -> None:
        if self._settling:
            keys, times, merchants, frauds, revisions = zip(*self._settling, strict=True)
            self._settled.append(np.array(keys, np.int64), event_time=times, merchant=merchants, fraud=frauds,
                                 revision=revisions)
            self._settling = []

    # -- queries ----------------------------------------------------------------------------------

    def ready(self, t: int) -> bool:
        """True when `rate(m, t)` is final: all labels with label_time <= t are in and joined."""
        watermark = self._watermark
        if watermark is None or watermark <= t:
            return False
        waiting = self._waiting_order
        while waiting and waiting[0][0] <= t:
            labels = self._waiting.get(waiting[0][1])
            if labels is not None and not self._orphaned(labels[0]):
                return False
            heapq.heappop(waiting)
            if labels is not None:
                del self._waiting[labels[0].transaction_id]
                self.counters.orphans += len(labels)
        return True

    def _orphaned(self, label: LabelFacts) -> bool:
        # every transaction partition is past the label's event time and its transaction did not come
        return bool(self.txn_frontier) and min(self.txn_frontier.values()) > label.event_time

    def exact(self, t: int) -> bool:
        """False if `rate(m, t)` cannot be told any more: `t` is behind the fold point and not a day's end."""
        return t >= self.fold_point or _day_end(t) == t

    def rate(self, merchant_id: str | None, t: int) -> float:
        """Smoothed fraud rate of the merchant from labels with label_time <= t (as the reference)."""
        if merchant_id is None:
            return RISK_PRIOR
        if t < self.fold_point:  # behind the fold point: the folded counts as of t's day
            days = self._days.get(merchant_id)
            return smoothed_rate(*days.as_of(t)) if days is not None else RISK_PRIOR
        labels, frauds = self._base.get(merchant_id, (0, 0))
        times = self._label_times.get(merchant_id)
        if times:
            labels += bisect_right(times, t)
        fraud_times = self._fraud_times.get(merchant_id)  # not nested: a revision adds one without a label
        if fraud_times:
            frauds += bisect_right(fraud_times, t)
        unfraud_times = self._unfraud_times.get(merchant_id)
        if unfraud_times:
            frauds -= bisect_right(unfraud_times, t)
        return smoothed_rate(frauds, labels)

    def pending_sizes(self) -> dict[str, int]:
        return {"unjoined_transactions": len(self._merchant_of), "waiting_labels": len(self._waiting),
                "unfolded_labels": len(self._unfolded), "settled_transactions": len(self._settled)}

    # -- bounding memory --------------------------------------------------------------------------

    def compact(self, floor: int | None) -> None:
        """Fold labels `fold_lag_us` behind both the slowest transaction partition and `floor`, the oldest
        event time the caller may still ask about (None: unknown, fold nothing); expire unjoined
        transactions older than the maximum label delay, and joined ones no label can revise any more. Cost:
        the work it removes."""
        self._settle()
        settled, watermark = self._settled, self._watermark
        while (watermark is not None and (oldest := settled.oldest()) is not None
               and (not oldest.size or oldest.max("event_time") + self.max_label_delay_us < watermark)):
            settled.pop_oldest()
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
            _, txn_id, merchant_id, first = heapq.heappop(unfolded)
            if first:
                del self._joined[txn_id]
            if merchant_id is not None:
                touched.add(merchant_id)
        for merchant_id in touched:
            labelled, frauds, unfrauds = (_cut(times.get(merchant_id), fold_point) for times in
                                          (self._label_times, self._fraud_times, self._unfraud_times))
            for times, count_labels, count_frauds in ((labelled, 1, 0), (frauds, 0, 1), (unfrauds, 0, -1)):
                for day_end, same_day in groupby(times, _day_end):  # sorted times: each day once
                    n = sum(1 for _ in same_day)
                    self._add_folded(merchant_id, day_end, n * count_labels, n * count_frauds)
        self.fold_point = fold_point

    def _add_folded(self, merchant_id: str, label_time: int, labels: int, frauds: int) -> None:
        total_labels, total_frauds = self._base.get(merchant_id, (0, 0))
        self._base[merchant_id] = (total_labels + labels, total_frauds + frauds)
        days = self._days.get(merchant_id)
        if days is None:
            days = self._days[merchant_id] = _DayCounts()
        days.add(_day_end(label_time), labels, frauds)


class _DayCounts:
    """One merchant's folded (labels, frauds) as of the end of each day that had a folded label: cumulative,
    in arrays of int64 (folding moves forward in time, so a day is nearly always appended)."""

    __slots__ = ("ends", "frauds", "labels")

    def __init__(self) -> None:
        self.ends, self.labels, self.frauds = array("q"), array("q"), array("q")

    def add(self, day_end: int, labels: int, frauds: int) -> None:
        ends = self.ends
        i = bisect_left(ends, day_end)
        if i == len(ends) or ends[i] != day_end:
            before_labels, before_frauds = (self.labels[i - 1], self.frauds[i - 1]) if i else (0, 0)
            ends.insert(i, day_end)
            self.labels.insert(i, before_labels)
            self.frauds.insert(i, before_frauds)
        for j in range(i, len(ends)):  # this day's end and every later one
            self.labels[j] += labels
            self.frauds[j] += frauds

    def as_of(self, t: int) -> tuple[int, int]:
        """(frauds, labels) folded with label_time <= t, for t a day's end."""
        i = bisect_right(self.ends, t)
        return (self.frauds[i - 1], self.labels[i - 1]) if i else (0, 0)


def _day_end(t: int) -> int:
    """The last microsecond of t's (IST) day: what `risk_as_of` gives the transactions of the next day."""
    return risk_as_of(t) + RISK_BUCKET_US


def _watermark(frontiers: list[int | None]) -> int | None:
    if any(frontier is None for frontier in frontiers):
        return None
    return min(frontier for frontier in frontiers if frontier is not None)


def _cut(times: list[int] | None, fold_point: int) -> list[int]:
    """Remove the times up to `fold_point` from the sorted list; returns them."""
    if not times:
        return []
    cut = bisect_right(times, fold_point)
    removed = times[:cut]
    del times[:cut]
    return removed


def _insort(times: list[int], value: int) -> None:
    # labels arrive almost in label-time order: appending is the common case
    if not times or times[-1] <= value:
        times.append(value)
    else:
        times.insert(bisect_right(times, value), value)
