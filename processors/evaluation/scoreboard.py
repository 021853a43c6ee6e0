"""Every number `synfinance evaluate` reports, computed from a `Joined` table with numpy.

Definitions (the README's "Scoring your fraud engine" section repeats them):

* **Positive** = the engine stopped the payment. Two operating points: `at_decline` (only `decline` is
  positive; `review` counts as approved, the payment went through) and `at_review` (`review` counts as
  positive too, as if every review were upheld). A transaction without a decision is approved.
* **Slices**: `overall` is every labelled transaction. A fraud type X is the slice "frauds of type X plus
  every legitimate transaction": its recall is the share of X-frauds stopped, its precision
  TP_X / (TP_X + FP) with FP the legitimate transactions stopped (other fraud types are left out), and its
  ROC-AUC / PR-AUC rank X-frauds against legitimate ones. An anomaly type Y is the legitimate transactions
  labelled with anomaly Y: its `fpr_*` is the share of them stopped (false positives the anomaly caused).
* **Score thresholds**: recall / precision / FPR with "score >= t" as positive, for t in THRESHOLDS; a
  transaction without a score ranks below every score. ROC-AUC and PR-AUC (average precision) need scores:
  they are None when no decision carried one, or when a slice lacks either class.
* **Scenarios** (fraud scenarios, by `scenario_id`; their transactions in event-time order, ties by
  transaction id): `prevented` when the scenario's first fraudulent transaction was declined (caught before
  any of its fraud went through), `late` when a later one was the first declined (caught after the first),
  `missed` when none was. `delay_s`: event time from the scenario's first transaction to its first declined
  one, for prevented (0) and late scenarios; `let_through` the fraudulent transactions approved before it.
* **₹**: `caught_paise` / `missed_paise` sum the fraud transactions' `amount_paise` declined / not declined.
* **Latency**: decided_at (else the decision record's Kafka timestamp) minus the transaction's event time,
  over decided transactions, in milliseconds; `negative` counts decisions stamped before their transaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.common.units import SECOND_US
from synfinance.processors.evaluation.curves import average_precision, pr_curve, roc_auc, roc_curve, thinned
from synfinance.processors.evaluation.decisions import DECLINE, REVIEW
from synfinance.processors.evaluation.joined import NO_SCORE, Joined

__all__ = ["THRESHOLDS", "AnomalyStats", "Confusion", "LatencyStats", "Plots", "ScenarioStats", "Scoreboard",
           "SliceStats", "score"]

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_TIME_BINS, _SCORE_BINS, _LATENCY_BINS = 20, 20, 30
Mask = npt.NDArray[np.bool_]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class Confusion:
    """Counts and rates with `flagged` as the positive prediction."""

    tp: int
    fp: int
    fn: int
    tn: int
    recall: float | None
    precision: float | None
    fpr: float | None

    @classmethod
    def of(cls, flagged: Mask, truth: Mask) -> Confusion:
        tp, fp = int((flagged & truth).sum()), int((flagged & ~truth).sum())
        fn, tn = int(truth.sum()) - tp, int((~truth).sum()) - fp
        return cls(tp, fp, fn, tn, _ratio(tp, tp + fn), _ratio(tp, tp + fp), _ratio(fp, fp + tn))


@dataclass(frozen=True)
class ScenarioStats:
    scenarios: int
    prevented: int
    late: int
    missed: int
    delay_s_p50: float | None
    delay_s_p90: float | None
    let_through_mean: float | None
    delays_s: list[float]  # per detected scenario, for the report's plot


@dataclass(frozen=True)
class SliceStats:
    fraud: int
    legit: int
    at_decline: Confusion
    at_review: Confusion
    thresholds: dict[str, Confusion] | None  # "0.5" -> score >= 0.5 as positive
    roc_auc: float | None
    pr_auc: float | None
    caught_paise: int
    missed_paise: int
    scenarios: ScenarioStats


@dataclass(frozen=True)
class AnomalyStats:
    legit_anomalies: int
    declined: int
    reviewed: int
    fpr_decline: float | None
    fpr_review: float | None


@dataclass(frozen=True)
class LatencyStats:
    decided: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    negative: int


@dataclass(frozen=True)
class Plots:
    """The curves and histograms the HTML report draws (overall slice)."""

    roc: tuple[list[float], list[float]] | None  # (fpr, tpr)
    pr: tuple[list[float], list[float]] | None  # (recall, precision)
    score_edges: list[float]
    score_hist: dict[str, list[int]]  # class -> counts per score bin
    latency_edges_ms: list[float]
    latency_hist: list[int]
    time_edges_us: list[int]
    time_recall: list[float | None]
    time_precision: list[float | None]
    time_transactions: list[int]


@dataclass(frozen=True)
class Scoreboard:
    counts: dict[str, int]
    threshold: float
    overall: SliceStats
    fraud_types: dict[str, SliceStats]
    anomalies: AnomalyStats
    anomaly_types: dict[str, AnomalyStats]
    latency: LatencyStats
    plots: Plots

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _scenarios(j: Joined, rows: Mask, declined: Mask) -> ScenarioStats:
    index = np.flatnonzero(rows & j.is_fraud & (j.scenario_id != ""))
    if len(index) == 0:
        return ScenarioStats(0, 0, 0, 0, None, None, None, [])
    index = index[np.lexsort((j.transaction_id[index], j.event_time[index], j.scenario_id[index]))]
    scenario = j.scenario_id[index]
    starts = np.flatnonzero(np.r_[True, scenario[1:] != scenario[:-1]])
    position = np.arange(len(index))
    first_declined = np.minimum.reduceat(np.where(declined[index], position, len(index)), starts)
    caught = first_declined < len(index)
    prevented = caught & (first_declined == starts)
    times = j.event_time[index]
    delays = (times[first_declined[caught]] - times[starts[caught]]) / SECOND_US
    let_through = first_declined[caught] - starts[caught]
    return ScenarioStats(len(starts), int(prevented.sum()), int((caught & ~prevented).sum()), int((~caught).sum()),
                         float(np.percentile(delays, 50)) if len(delays) else None,
                         float(np.percentile(delays, 90)) if len(delays) else None,
                         float(let_through.mean()) if len(delays) else None, delays.tolist())


def _slice(j: Joined, rows: Mask, rank: npt.NDArray[np.int64]) -> SliceStats:
    """`rank`: every row, highest score first (sorted once for all slices)."""
    truth = j.is_fraud[rows]
    verdict, scores = j.verdict[rows], j.score[rows]
    declined = j.verdict == DECLINE
    amounts = j.amount_paise[rows]
    thresholds = roc = ap = None
    if j.has_scores:
        thresholds = {f"{t:g}": Confusion.of(scores >= t, truth) for t in THRESHOLDS}
        ranked = rank[rows[rank]]
        roc = roc_auc(j.score[ranked], j.is_fraud[ranked], ranked=True)
        ap = average_precision(j.score[ranked], j.is_fraud[ranked], ranked=True)
    return SliceStats(int(truth.sum()), int((~truth).sum()), Confusion.of(verdict == DECLINE, truth),
                      Confusion.of(verdict >= REVIEW, truth), thresholds, roc, ap,
                      int(amounts[truth & (verdict == DECLINE)].sum()),
                      int(amounts[truth & (verdict != DECLINE)].sum()),
                      _scenarios(j, rows, declined))


def _anomalies(j: Joined, rows: Mask) -> AnomalyStats:
    verdict = j.verdict[rows]
    n, declined, reviewed = int(rows.sum()), int((verdict == DECLINE).sum()), int((verdict == REVIEW).sum())
    return AnomalyStats(n, declined, reviewed, _ratio(declined, n), _ratio(declined + reviewed, n))


def _latency(j: Joined) -> tuple[LatencyStats, list[float], list[int]]:
    ms = (j.decided_at[j.decided] - j.event_time[j.decided]) / (SECOND_US / 1_000)
    if len(ms) == 0:
        return LatencyStats(0, None, None, None, None, 0), [], []
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    stats = LatencyStats(len(ms), p50, p90, p99, float(ms.max()), int((ms < 0).sum()))
    positive = ms[ms > 0]
    if len(positive) == 0:
        return stats, [], []
    low, high = np.floor(np.log10(positive.min())), np.ceil(np.log10(positive.max()))
    edges = np.logspace(low, max(high, low + 1), _LATENCY_BINS + 1)
    return stats, edges.tolist(), np.histogram(positive, edges)[0].tolist()


def _over_time(j: Joined, rows: Mask) -> tuple[list[int], list[float | None], list[float | None], list[int]]:
    if not rows.any():
        return [], [], [], []
    times, truth, flagged = j.event_time[rows], j.is_fraud[rows], j.verdict[rows] == DECLINE
    edges = np.linspace(times.min(), max(times.max(), times.min() + 1), _TIME_BINS + 1)
    where = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, _TIME_BINS - 1)

    def per_bin(mask: Mask) -> npt.NDArray[np.int64]:
        return np.bincount(where[mask], minlength=_TIME_BINS)

    tp, fp, fn = per_bin(flagged & truth), per_bin(flagged & ~truth), per_bin(~flagged & truth)
    recall = [_ratio(int(a), int(a + b)) for a, b in zip(tp, fn, strict=True)]
    precision = [_ratio(int(a), int(a + b)) for a, b in zip(tp, fp, strict=True)]
    return edges.astype(np.int64).tolist(), recall, precision, np.bincount(where, minlength=_TIME_BINS).tolist()


def _plots(j: Joined, labelled: Mask, rank: npt.NDArray[np.int64]) -> Plots:
    roc_points = pr_points = None
    if j.has_scores:
        ranked = rank[labelled[rank]]
        scores, truth = j.score[ranked], j.is_fraud[ranked]
        roc = roc_curve(scores, truth, ranked=True)
        roc_points = None if roc is None else thinned(*roc)
        pr = pr_curve(scores, truth, ranked=True)
        pr_points = None if pr is None else thinned(pr[0], pr[1])
    edges = np.linspace(0.0, 1.0, _SCORE_BINS + 1)
    scored = j.score != NO_SCORE
    classes = {"fraud": labelled & j.is_fraud, "legit anomaly": labelled & ~j.is_fraud & j.is_anomaly,
               "legit": labelled & ~j.is_fraud & ~j.is_anomaly}
    hist = {name: np.histogram(j.score[mask & scored], edges)[0].tolist() for name, mask in classes.items()}
    _, latency_edges, latency_hist = _latency(j)
    time_edges, recall, precision, counts = _over_time(j, labelled)
    return Plots(roc_points, pr_points, edges.tolist(), hist, latency_edges, latency_hist, time_edges, recall,
                 precision, counts)


def score(j: Joined, threshold: float = 0.5) -> Scoreboard:
    """The scoreboard of a joined table (`threshold`: the one `join` derived verdicts from, for the record)."""
    labelled = j.labelled
    legit = labelled & ~j.is_fraud
    rank = np.argsort(-j.score) if j.has_scores else np.zeros(0, np.int64)
    fraud_types = {str(t): _slice(j, legit | (labelled & j.is_fraud & (j.fraud_type == t)), rank)
                   for t in np.unique(j.fraud_type[labelled & j.is_fraud])}
    anomalous = legit & j.is_anomaly
    anomaly_types = {str(t): _anomalies(j, anomalous & (j.anomaly_type == t))
                     for t in np.unique(j.anomaly_type[anomalous])}
    return Scoreboard(dict(j.counts), threshold, _slice(j, labelled, rank), fraud_types, _anomalies(j, anomalous),
                      anomaly_types, _latency(j)[0], _plots(j, labelled, rank))
