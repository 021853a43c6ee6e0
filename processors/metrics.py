"""The processor's Prometheus series, in a registry of its own (served by the Faust web app on /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from synfinance.common.e2e import E2E_BUCKETS, E2E_HELP, E2E_METRIC


@dataclass(frozen=True)
class Totals:
    """What a run did, for the summary line: transactions scored, alerts and dead letters emitted."""

    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.scored + other.scored, self.alerts + other.alerts,
                      self.dead_letters + other.dead_letters)


class ProcessorMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.processed = Counter("synfin_processed_total", "Transactions scored (ScoredTransaction emitted).",
                                 registry=r)
        self.alerts = Counter("synfin_alerts_total", "Alerts emitted (score >= threshold).", registry=r)
        self.learned = Counter("synfin_labels_learned_total", "Labels the model has learned from.", registry=r)
        self.dead_letters = Counter("synfin_processor_dlq_total", "Input records sent to the dead-letter topic.",
                                    ["topic"], registry=r)
        self.hold_timeouts = Counter("synfin_risk_hold_timeouts_total",
                                     "Transactions scored before merchant risk was final (label watermark late).",
                                     registry=r)
        self.live_releases = Counter("synfin_risk_live_releases_total",
                                     "Live transactions scored without a later label: a second past their event "
                                     "time with every label partition read to its end.", registry=r)
        self.duplicates = Counter("synfin_processor_duplicates_total",
                                  "Transactions skipped as already scored (re-sent by a resumed producer).",
                                  registry=r)
        self.inexact_risk = Counter("synfin_risk_inexact_total",
                                    "Transactions scored with merchant risk older than the replica keeps exactly.",
                                    registry=r)
        self.revisions = Counter("synfin_label_revisions_total",
                                 "Label revisions applied: learned by the model, or not (input no longer held, "
                                 "or the verdict unchanged).", ["learned"], registry=r)
        self.stale_revisions = Counter("synfin_label_revisions_stale_total",
                                       "Label revisions at or below one already seen for their transaction (no-ops).",
                                       registry=r)
        self._revisions_reported = (0, 0, 0)
        self.commits = Counter("synfin_processor_commits_total", "Kafka transactions committed.", registry=r)
        self.roc_auc = Gauge("synfin_model_roc_auc", "Prequential ROC-AUC of scores given before their labels.",
                             registry=r)
        self.pr_auc = Gauge("synfin_model_pr_auc", "Prequential PR-AUC (average precision), same scores.",
                            registry=r)
        self.pending = Gauge("synfin_pending_labels", "Scored transactions waiting for their label.", registry=r)
        self.labelled_inputs = Gauge("synfin_labelled_inputs",
                                     "Model inputs of labelled transactions kept for label revisions.", registry=r)
        self.held = Gauge("synfin_held_transactions", "Transactions received, waiting for merchant risk to be final.",
                          registry=r)
        self.latency = Histogram("synfin_processing_latency_seconds",
                                 "Wall-clock time from receiving a transaction to emitting its score.",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=r)
        self.e2e = Histogram(E2E_METRIC, E2E_HELP, ["stage"], buckets=E2E_BUCKETS, registry=r).labels(stage="scored")

    def totals(self) -> Totals:
        dead = sum(sample.value for metric in self.dead_letters.collect() for sample in metric.samples
                   if sample.name.endswith("_total"))
        return Totals(int(self.registry.get_sample_value("synfin_processed_total") or 0),
                      int(self.registry.get_sample_value("synfin_alerts_total") or 0), int(dead))

    def report_revisions(self, learned: int, not_learned: int, stale: int) -> None:
        """Advance the revision series to the engine's running counts."""
        was = self._revisions_reported
        self.revisions.labels(learned="true").inc(learned - was[0])
        self.revisions.labels(learned="false").inc(not_learned - was[1])
        self.stale_revisions.inc(stale - was[2])
        self._revisions_reported = (learned, not_learned, stale)
