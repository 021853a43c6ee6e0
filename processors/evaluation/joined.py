"""The join of an engine's decisions with our transactions and their final labels, as aligned columns.

`Observed` accumulates what the topics held (append-only, in arrival order); `join(observed)` aligns it,
one row per distinct transaction id seen on the transactions topic:

* label: the one of the highest `revision` (a later arrival wins a tie); a transaction with no label yet
  is *unlabelled* and stays out of every quality metric (its truth is unknown), but is counted;
* decision: the **first** decision record for the transaction (the one a payment would have waited for);
  later ones are counted as `duplicate_decisions`; a transaction with no decision counts as **approved**
  with no score; decisions naming a transaction id the topic does not hold are `unknown_decisions`;
* a decision with a score but no verdict declines when ``score >= threshold``, else approves;
* decisions read from several topics (`source` 0, 1, ...: e.g. scores on one, alerts on another) combine
  per transaction, each topic's first decision taken: the strongest verdict (decline > review > approve),
  the first score in topic order, the first topic's decided_at; with several topics (`Observed.sources`) a
  transaction none of them gives a verdict is approved (a scores topic plus an alerts topic: alerted =
  declined, the rest approved, whatever the score): `threshold` applies to a single decisions topic only.

>>> seen = Observed()
>>> seen.add_transaction("T1", 10, 500); seen.add_transaction("T2", 20, 700)
>>> seen.add_label("T1", 0, False, None, None, False, None)
>>> seen.add_label("T1", 1, True, "stolen_card", "S1", False, None)
>>> seen.add_decision("T1", 0.9, NO_VERDICT, None, 15); seen.add_decision("T9", None, DECLINE, None, 16)
>>> j = join(seen, threshold=0.5)
>>> j.is_fraud.tolist(), j.labelled.tolist(), j.verdict.tolist(), j.counts["unknown_decisions"]
([True, False], [True, False], [2, 0], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.processors.evaluation.decisions import DECLINE, NO_VERDICT

__all__ = ["NO_SCORE", "Joined", "Observed", "join"]

NO_SCORE = -1.0  # a transaction without a score ranks below every scored one
_NO_TIME = np.iinfo(np.int64).min


class Column:
    """An append-only column: appended one Python value at a time, read as numpy; each value is converted
    once (`array()` converts only what arrived since the last call). Strings hold "" for None."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self._done: npt.NDArray[Any] = np.zeros(0, dtype=dtype)
        self._tail: list[Any] = []
        self.append = self._tail.append

    def __len__(self) -> int:
        return len(self._done) + len(self._tail)

    def array(self) -> npt.NDArray[Any]:
        if self._tail:
            self._done = np.concatenate([self._done, np.asarray(self._tail, dtype=self.dtype)])
            self._tail.clear()
        return self._done


@dataclass
class Observed:
    """What the three topics held so far, in arrival order (the reader appends; tests may too).

    Transaction ids are interned as they arrive (`codes`: id -> 0, 1, ... in first-seen order; `names`: the
    ids by code), so the join sorts and matches integers, not a million strings, at every refresh."""

    codes: dict[str, int] = field(default_factory=dict)
    names: Column = field(default_factory=partial(Column, str))
    txn_codes: Column = field(default_factory=partial(Column, np.int64))
    txn_time: Column = field(default_factory=partial(Column, np.int64))
    txn_amount: Column = field(default_factory=partial(Column, np.int64))
    label_codes: Column = field(default_factory=partial(Column, np.int64))
    label_revision: Column = field(default_factory=partial(Column, np.int64))
    label_fraud: Column = field(default_factory=partial(Column, bool))
    label_fraud_type: Column = field(default_factory=partial(Column, str))
    label_scenario: Column = field(default_factory=partial(Column, str))
    label_anomaly: Column = field(default_factory=partial(Column, bool))
    label_anomaly_type: Column = field(default_factory=partial(Column, str))
    decision_codes: Column = field(default_factory=partial(Column, np.int64))
    decision_score: Column = field(default_factory=partial(Column, np.float64))  # nan: none
    decision_verdict: Column = field(default_factory=partial(Column, np.int64))
    decision_time: Column = field(default_factory=partial(Column, np.int64))  # decided_at, else record time (µs)
    decision_source: Column = field(default_factory=partial(Column, np.int64))  # which decisions topic (0, 1, ...)
    undecodable_decisions: int = 0
    sources: int = 1  # how many decisions topics are read

    def code(self, transaction_id: str) -> int:
        code = self.codes.get(transaction_id)
        if code is None:
            code = self.codes[transaction_id] = len(self.codes)
            self.names.append(transaction_id)
        return code

    def add_transaction(self, transaction_id: str, event_time: int, amount_paise: int) -> None:
        self.txn_codes.append(self.code(transaction_id))
        self.txn_time.append(event_time)
        self.txn_amount.append(amount_paise)

    def add_label(self, transaction_id: str, revision: int, is_fraud: bool, fraud_type: str | None,
                  scenario_id: str | None, is_anomaly: bool, anomaly_type: str | None) -> None:
        self.label_codes.append(self.code(transaction_id))
        self.label_revision.append(revision)
        self.label_fraud.append(is_fraud)
        self.label_fraud_type.append(fraud_type or "")
        self.label_scenario.append(scenario_id or "")
        self.label_anomaly.append(is_anomaly)
        self.label_anomaly_type.append(anomaly_type or "")

    def add_decision(self, transaction_id: str, score: float | None, verdict: int, decided_at: int | None,
                     record_time_us: int, source: int = 0) -> None:
        self.decision_codes.append(self.code(transaction_id))
        self.decision_score.append(np.nan if score is None else score)
        self.decision_verdict.append(verdict)
        self.decision_time.append(record_time_us if decided_at is None else decided_at)
        self.decision_source.append(source)


@dataclass(frozen=True)
class Joined:
    """One row per distinct transaction (in the order the ids were first seen). String columns use "" for null.

    `verdict`: 0 approve (also: no decision), 1 review, 2 decline. `score`: NO_SCORE when none.
    `decided_at`: µs, meaningful where `decided`. `has_scores`: some decision carried a score.
    """

    transaction_id: npt.NDArray[np.str_]
    event_time: npt.NDArray[np.int64]
    amount_paise: npt.NDArray[np.int64]
    labelled: npt.NDArray[np.bool_]
    is_fraud: npt.NDArray[np.bool_]
    fraud_type: npt.NDArray[np.str_]
    scenario_id: npt.NDArray[np.str_]
    is_anomaly: npt.NDArray[np.bool_]
    anomaly_type: npt.NDArray[np.str_]
    decided: npt.NDArray[np.bool_]
    verdict: npt.NDArray[np.int64]
    score: npt.NDArray[np.float64]
    decided_at: npt.NDArray[np.int64]
    has_scores: bool
    counts: dict[str, int]

    def __len__(self) -> int:
        return len(self.transaction_id)


def _decisions(observed: Observed, row_of: npt.NDArray[np.int64], n: int, threshold: float) -> tuple[Any, ...]:
    """Per transaction: decided, verdict, score, decided_at; and the duplicate and unknown counts.
    `row_of`: each id code's row, -1 for ids no transaction has."""
    decided, verdict = np.zeros(n, bool), np.zeros(n, np.int64)
    score, decided_at = np.full(n, NO_SCORE), np.full(n, _NO_TIME, dtype=np.int64)
    decision_ids = observed.decision_codes.array()
    if len(decision_ids) == 0:
        return decided, verdict, score, decided_at, 0, 0
    source = observed.decision_source.array()
    order = np.lexsort((np.arange(len(decision_ids)), source, decision_ids))  # by id, then source, then arrival
    by_id, by_source = decision_ids[order], source[order]
    pairs = order[np.r_[True, (by_id[1:] != by_id[:-1]) | (by_source[1:] != by_source[:-1])]]  # first per source
    records_per_id = np.diff(np.r_[np.flatnonzero(np.r_[True, by_id[1:] != by_id[:-1]]), len(by_id)])
    pair_ids = decision_ids[pairs]
    starts = np.flatnonzero(np.r_[True, pair_ids[1:] != pair_ids[:-1]])
    pairs_per_id = np.diff(np.r_[starts, len(pairs)])
    rows = row_of[pair_ids[starts]]
    known = rows >= 0
    unknown = int(records_per_id[~known].sum())
    duplicates = int((records_per_id - pairs_per_id)[known].sum())
    given_verdict = np.maximum.reduceat(observed.decision_verdict.array()[pairs], starts)
    scores = observed.decision_score.array()[pairs]
    position = np.where(np.isnan(scores), len(scores), np.arange(len(scores)))
    first_scored = np.minimum.reduceat(position, starts)
    given_score = np.where(first_scored < len(scores), scores[np.minimum(first_scored, len(scores) - 1)], np.nan)
    times = observed.decision_time.array()[pairs[starts]]
    if observed.sources > 1:
        derived = np.zeros(len(given_score), np.int64)  # the topics give the verdicts: none given = approved
    else:
        derived = np.where(given_score >= threshold, DECLINE, 0)
    rows, given_verdict, given_score, derived, times = (a[known] for a in (rows, given_verdict, given_score, derived,
                                                                            times))
    decided[rows] = True
    verdict[rows] = np.where(given_verdict == NO_VERDICT, derived, given_verdict)
    score[rows] = np.where(np.isnan(given_score), NO_SCORE, given_score)
    decided_at[rows] = times
    return decided, verdict, score, decided_at, duplicates, unknown


def join(observed: Observed, threshold: float = 0.5) -> Joined:
    """Align decisions and final labels to the transactions (rules in the module docstring)."""
    raw_ids = observed.txn_codes.array()
    present, first = np.unique(raw_ids, return_index=True)
    n = len(present)
    row_of = np.full(len(observed.codes), -1, dtype=np.int64)
    row_of[present] = np.arange(n)
    ids = observed.names.array()[present] if n else np.array([], dtype=str)
    event_time = observed.txn_time.array()[first] if n else np.zeros(0, np.int64)
    amount = observed.txn_amount.array()[first] if n else np.zeros(0, np.int64)

    columns: dict[str, Any] = {"labelled": np.zeros(n, bool), "is_fraud": np.zeros(n, bool),
                               "is_anomaly": np.zeros(n, bool)}
    strings = {"fraud_type": observed.label_fraud_type, "scenario_id": observed.label_scenario,
               "anomaly_type": observed.label_anomaly_type}
    for name, column in strings.items():
        columns[name] = np.full(n, "", dtype=column.array().dtype)
    label_ids = observed.label_codes.array()
    unmatched_labels = 0
    if len(label_ids):
        revision = observed.label_revision.array()
        order = np.lexsort((np.arange(len(label_ids)), revision, label_ids))  # last of each id = the truth
        last = order[np.r_[label_ids[order][1:] != label_ids[order][:-1], True]]
        rows = row_of[label_ids[last]]
        unmatched_labels = int((rows < 0).sum())
        keep, rows = last[rows >= 0], rows[rows >= 0]
        columns["labelled"][rows] = True
        columns["is_fraud"][rows] = observed.label_fraud.array()[keep]
        columns["is_anomaly"][rows] = observed.label_anomaly.array()[keep]
        for name, column in strings.items():
            columns[name][rows] = column.array()[keep]

    decided, verdict, score, decided_at, duplicates, unknown = _decisions(observed, row_of, n, threshold)
    scores_seen = bool((~np.isnan(observed.decision_score.array())).any())
    decision_ids = observed.decision_codes

    counts = {"transactions": n, "duplicate_transactions": len(raw_ids) - n,
              "labels": len(label_ids), "labelled": int(columns["labelled"].sum()),
              "unlabelled": n - int(columns["labelled"].sum()), "labels_without_transaction": unmatched_labels,
              "decisions": len(decision_ids), "decided": int(decided.sum()),
              "missing_decisions": n - int(decided.sum()),
              "duplicate_decisions": duplicates, "unknown_decisions": unknown,
              "undecodable_decisions": observed.undecodable_decisions, "decision_topics": observed.sources}
    return Joined(ids, event_time, amount, columns["labelled"], columns["is_fraud"],
                  columns["fraud_type"], columns["scenario_id"], columns["is_anomaly"],
                  columns["anomaly_type"], decided, verdict, score, decided_at, scores_seen, counts)
