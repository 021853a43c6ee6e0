"""The scoreboard as Prometheus series (`synfin_eval_*`), read from the latest `Scoreboard` at each scrape.

A collector rather than gauges set one by one: fraud and anomaly types appear as the labels reveal them,
and every scrape shows one consistent scoreboard. Every series carries `engine` (the decisions topic).
Rates with no denominator yet (no fraud of a type labelled) are left out rather than exported as NaN.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from synfinance.processors.evaluation.scoreboard import Scoreboard, SliceStats

__all__ = ["METRIC_NAMES", "ScoreboardCollector"]

METRIC_NAMES = ("synfin_eval_records_total", "synfin_eval_transactions", "synfin_eval_recall", "synfin_eval_precision",
                "synfin_eval_roc_auc", "synfin_eval_pr_auc", "synfin_eval_anomaly_fpr",
                "synfin_eval_fraud_amount_rupees", "synfin_eval_scenarios", "synfin_eval_decision_latency_seconds")
_POINTS = (("decline", "at_decline"), ("decline_or_review", "at_review"))


class ScoreboardCollector(Collector):
    """Exports `board` (replace it with `update`); `records` are the reader's per-topic record counts."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.board: Scoreboard | None = None
        self.records: dict[str, int] = {}

    def update(self, board: Scoreboard, records: dict[str, int]) -> None:
        self.board, self.records = board, dict(records)

    def collect(self) -> Iterator[Any]:
        records = CounterMetricFamily("synfin_eval_records", "Records read by the evaluator, by topic kind.",
                                      labels=["engine", "kind"])
        for kind, count in sorted(self.records.items()):
            records.add_metric([self.engine, kind], count)
        yield records
        board = self.board
        if board is None:
            return
        counts = GaugeMetricFamily("synfin_eval_transactions", "Transactions and decisions by how they joined "
                                   "(labelled, unlabelled, missing/unknown/duplicate/undecodable decisions...).",
                                   labels=["engine", "kind"])
        for kind, count in sorted(board.counts.items()):
            if kind != "decision_topics":  # configuration, not a count
                counts.add_metric([self.engine, kind], count)
        yield counts
        slices = {"all": board.overall, **board.fraud_types}
        yield from self._rates(slices)
        anomaly = GaugeMetricFamily("synfin_eval_anomaly_fpr", "Share of legitimate anomalies the engine stopped.",
                                    labels=["engine", "anomaly_type", "point"])
        for name, stats in {"all": board.anomalies, **board.anomaly_types}.items():
            for point, value in (("decline", stats.fpr_decline), ("decline_or_review", stats.fpr_review)):
                if value is not None:
                    anomaly.add_metric([self.engine, name, point], value)
        yield anomaly
        amount = GaugeMetricFamily("synfin_eval_fraud_amount_rupees", "Value of fraud declined (caught) or not "
                                   "(missed), in rupees.", labels=["engine", "fraud_type", "outcome"])
        scenarios = GaugeMetricFamily("synfin_eval_scenarios", "Fraud scenarios by outcome: prevented (first "
                                      "fraudulent transaction declined), late, missed.",
                                      labels=["engine", "fraud_type", "outcome"])
        for name, s in slices.items():
            amount.add_metric([self.engine, name, "caught"], s.caught_paise / 100)
            amount.add_metric([self.engine, name, "missed"], s.missed_paise / 100)
            for outcome in ("prevented", "late", "missed"):
                scenarios.add_metric([self.engine, name, outcome], getattr(s.scenarios, outcome))
        yield amount
        yield scenarios
        latency = GaugeMetricFamily("synfin_eval_decision_latency_seconds", "Transaction event time to decision, "
                                    "percentiles over decided transactions.", labels=["engine", "quantile"])
        for quantile, ms in (("0.5", board.latency.p50_ms), ("0.9", board.latency.p90_ms),
                             ("0.99", board.latency.p99_ms)):
            if ms is not None:
                latency.add_metric([self.engine, quantile], ms / 1000)
        yield latency

    def _rates(self, slices: dict[str, SliceStats]) -> Iterator[Any]:
        recall = GaugeMetricFamily("synfin_eval_recall", "Share of fraud the engine stopped, per fraud type.",
                                   labels=["engine", "fraud_type", "point"])
        precision = GaugeMetricFamily("synfin_eval_precision", "Share of stopped transactions that were fraud "
                                      "(per type: type-X frauds vs all legitimate ones).",
                                      labels=["engine", "fraud_type", "point"])
        roc = GaugeMetricFamily("synfin_eval_roc_auc", "ROC-AUC of the engine's scores.",
                                labels=["engine", "fraud_type"])
        pr = GaugeMetricFamily("synfin_eval_pr_auc", "PR-AUC (average precision) of the engine's scores.",
                               labels=["engine", "fraud_type"])
        for name, s in slices.items():
            for point, attribute in _POINTS:
                confusion = getattr(s, attribute)
                if confusion.recall is not None:
                    recall.add_metric([self.engine, name, point], confusion.recall)
                if confusion.precision is not None:
                    precision.add_metric([self.engine, name, point], confusion.precision)
            if s.roc_auc is not None:
                roc.add_metric([self.engine, name], s.roc_auc)
            if s.pr_auc is not None:
                pr.add_metric([self.engine, name], s.pr_auc)
        yield from (recall, precision, roc, pr)
