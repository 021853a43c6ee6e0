"""The evaluator's pure parts: decision parsing, the join's rules, ROC/PR areas, and every scoreboard number."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from synfinance.processors.evaluation import curves, decisions, joined
from synfinance.processors.evaluation.decisions import DECLINE, NO_VERDICT, REVIEW, Decision, parse_decision
from synfinance.processors.evaluation.joined import NO_SCORE, Observed, join
from synfinance.processors.evaluation.scoreboard import score
from synfinance.schemas.codec import Codec, encode

S = 1_000_000  # one second in µs


@pytest.mark.parametrize("module", [curves, decisions, joined])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert (result.failed, result.attempted > 0) == (0, True)


def test_decisions_parse_json_and_both_avro_framings() -> None:
    record = {"transaction_id": "T1", "score": 0.25, "decision": "review", "decided_at": 7}
    expected = Decision("T1", 0.25, REVIEW, 7)
    assert parse_decision(json.dumps(record).encode()) == expected
    assert parse_decision(encode("decision", record)) == expected
    confluent = Codec({"decision": 42}).encode("decision", record)
    assert confluent[:5] == b"\x00\x00\x00\x00\x2a"
    assert parse_decision(b' {"transaction_id": "T2", "decision": "Decline"}') == Decision("T2", None, DECLINE, None)
    assert parse_decision(b'{"transaction_id": "T3", "score": 1}') == Decision("T3", 1.0, NO_VERDICT, None)


@pytest.mark.parametrize("value", [
    b"", b"not json", b"[1]", b'{"score": 0.5}', b'{"transaction_id": 5, "score": 0.5}',
    b'{"transaction_id": "T"}', b'{"transaction_id": "T", "score": -0.1}', b'{"transaction_id": "T", "score": true}',
    b'{"transaction_id": "T", "decision": "block"}', b'{"transaction_id": "T", "score": 0.1, "decided_at": "now"}',
    b'{"transaction_id": "T", "score": NaN}',
])
def test_undecodable_decisions_are_none(value: bytes) -> None:
    assert parse_decision(value) is None


def test_an_avro_record_of_another_schema_is_not_a_decision() -> None:
    label = {"transaction_id": "T1", "customer_id": "C1", "event_time": 5, "is_fraud": True,
             "fraud_type": "card_testing", "scenario_id": None, "is_anomaly": False, "anomaly_type": None,
             "severity": 0.0, "label_time": 9, "revision": 0}
    assert parse_decision(encode("label", label)) is None


def _observed() -> Observed:
    """Six transactions: T1..T3 card_testing scenario S1 (T3 relabelled fraud by revision 1), T4 stolen_card
    S2, T5 a legitimate geographic anomaly, T6 legitimate; T7 unlabelled."""
    seen = Observed()
    for k, amount in enumerate([100, 200, 300, 400, 500, 600, 700], start=1):
        seen.add_transaction(f"T{k}", k * 10 * S, amount)
    seen.add_transaction("T1", 10 * S, 100)  # a redelivered transaction
    seen.add_label("T3", 1, True, "card_testing", "S1", False, None)  # the revision arrives before revision 0
    for tid, fraud, ftype, scenario, anomaly, atype in [
        ("T1", True, "card_testing", "S1", False, None), ("T2", True, "card_testing", "S1", False, None),
        ("T3", False, None, None, False, None), ("T4", True, "stolen_card", "S2", False, None),
        ("T5", False, None, None, True, "geographic"), ("T6", False, None, None, False, None),
        ("T99", True, "stolen_card", "S9", False, None)]:
        seen.add_label(tid, 0, fraud, ftype, scenario, anomaly, atype)
    seen.add_decision("T1", 0.2, NO_VERDICT, None, 10 * S + 5_000)  # 0.2 < threshold: approve, 5 ms
    seen.add_decision("T2", 0.9, DECLINE, 20 * S + 10_000, 0)  # decided_at wins over the record time
    seen.add_decision("T2", 0.1, 0, None, 99 * S)  # a later duplicate: ignored, counted
    seen.add_decision("T5", 0.7, REVIEW, None, 50 * S + 20_000)
    seen.add_decision("T6", 0.6, NO_VERDICT, None, 60 * S + 40_000)  # 0.6 >= threshold: decline
    seen.add_decision("T404", None, DECLINE, None, 0)
    seen.add_decision("T404", None, DECLINE, None, 0)
    seen.undecodable_decisions = 3
    return seen


def test_join_rules() -> None:
    j = join(_observed(), threshold=0.5)
    assert j.transaction_id.tolist() == [f"T{k}" for k in range(1, 8)]
    assert j.is_fraud.tolist() == [True, True, True, True, False, False, False]
    assert j.labelled.tolist() == [True] * 6 + [False]
    assert j.fraud_type.tolist()[:4] == ["card_testing"] * 3 + ["stolen_card"]
    assert j.verdict.tolist() == [0, DECLINE, 0, 0, REVIEW, DECLINE, 0]
    assert j.decided.tolist() == [True, True, False, False, True, True, False]
    assert j.score.tolist() == [0.2, 0.9, NO_SCORE, NO_SCORE, 0.7, 0.6, NO_SCORE]
    assert j.counts == {"transactions": 7, "duplicate_transactions": 1, "labels": 8, "labelled": 6, "unlabelled": 1,
                        "labels_without_transaction": 1, "decisions": 7, "decided": 4, "missing_decisions": 3,
                        "duplicate_decisions": 1, "unknown_decisions": 2, "undecodable_decisions": 3,
                        "decision_topics": 1}


def test_scoreboard_numbers() -> None:
    board = score(join(_observed(), threshold=0.5))
    overall = board.overall
    assert (overall.fraud, overall.legit) == (4, 2)
    d = overall.at_decline  # declined: T2 (fraud), T6 (legit)
    assert (d.tp, d.fp, d.fn, d.tn, d.recall, d.precision, d.fpr) == (1, 1, 3, 1, 0.25, 0.5, 0.5)
    r = overall.at_review  # + T5 reviewed (legit)
    assert (r.tp, r.fp, r.recall, r.precision, r.fpr) == (1, 2, 0.25, 1 / 3, 1.0)
    assert overall.thresholds is not None and overall.thresholds["0.5"].tp == 1
    assert overall.thresholds["0.1"].tp == 2 and overall.thresholds["0.1"].fp == 2
    assert (overall.caught_paise, overall.missed_paise) == (200, 100 + 300 + 400)
    card = board.fraud_types["card_testing"]  # slice: T1..T3 + legit T5, T6
    assert (card.fraud, card.legit, card.at_decline.recall, card.at_decline.precision) == (3, 2, 1 / 3, 0.5)
    stolen = board.fraud_types["stolen_card"]
    assert (stolen.at_decline.recall, stolen.at_decline.precision, stolen.at_decline.fp) == (0.0, 0.0, 1)
    assert stolen.roc_auc == 0.0  # the stolen card had no score: it ranks below both legitimate ones
    s1 = card.scenarios  # T1 approved, T2 declined 10 s after the scenario began
    assert (s1.scenarios, s1.prevented, s1.late, s1.missed) == (1, 0, 1, 0)
    assert (s1.delays_s, s1.let_through_mean) == ([10.0], 1.0)
    assert (stolen.scenarios.scenarios, stolen.scenarios.missed) == (1, 1)
    assert (overall.scenarios.scenarios, overall.scenarios.late, overall.scenarios.missed) == (2, 1, 1)
    geo = board.anomaly_types["geographic"]
    assert (geo.legit_anomalies, geo.declined, geo.reviewed, geo.fpr_decline, geo.fpr_review) == (1, 0, 1, 0.0, 1.0)
    latency = board.latency  # 5, 10, 20, 40 ms
    assert (latency.decided, latency.p50_ms, latency.max_ms, latency.negative) == (4, 15.0, 40.0, 0)
    assert sum(board.plots.latency_hist) == 4
    assert sum(map(sum, board.plots.score_hist.values())) == 4  # T1, T2, T5, T6 scored and labelled
    assert sum(board.plots.time_transactions) == 6
    json.dumps(board.as_json())


def test_a_prevented_scenario_and_no_scores() -> None:
    seen = Observed()
    for k in range(1, 4):
        seen.add_transaction(f"T{k}", k * S, 1000)
        seen.add_label(f"T{k}", 0, k < 3, "sim_swap" if k < 3 else None, "S1" if k < 3 else None, False, None)
    seen.add_decision("T1", None, DECLINE, None, S)
    board = score(join(seen))
    scenarios = board.fraud_types["sim_swap"].scenarios
    assert (scenarios.prevented, scenarios.late, scenarios.delays_s) == (1, 0, [0.0])
    assert board.overall.roc_auc is None and board.overall.thresholds is None and board.plots.roc is None


def test_areas_equal_their_definitions_with_ties() -> None:
    # independent of the implementation (and of scikit-learn, which `make test` does not install; its
    # roc_auc_score / average_precision_score give these same values):
    # ROC-AUC = P(fraud scores above legit) + P(equal) / 2, over every pair;
    # AP = sum over distinct thresholds, high to low, of (recall gained) x (precision at that threshold)
    rng = np.random.default_rng(3)
    truth = rng.random(5_000) < 0.05
    scores = np.round(np.clip(rng.normal(0.3 + 0.3 * truth, 0.2), 0, 1), 2)  # many ties
    fraud, legit = scores[truth], scores[~truth]
    pairs = fraud[:, None] - legit[None, :]
    roc = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    ap, recall_before = 0.0, 0.0
    for threshold in np.unique(scores)[::-1]:
        flagged = scores >= threshold
        recall = (flagged & truth).sum() / truth.sum()
        ap += (recall - recall_before) * (flagged & truth).sum() / flagged.sum()
        recall_before = recall
    assert curves.roc_auc(scores, truth) == pytest.approx(roc, abs=1e-12)
    assert curves.average_precision(scores, truth) == pytest.approx(ap, abs=1e-12)


def test_areas_by_hand() -> None:
    truth = np.array([True, False, True, False])
    assert curves.roc_auc(np.array([0.9, 0.8, 0.7, 0.1]), truth) == 0.75
    assert curves.average_precision(np.array([0.9, 0.8, 0.7, 0.1]), truth) == pytest.approx((1 + 2 / 3) / 2)
    assert curves.roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), truth) == 0.5
    assert curves.roc_auc(np.array([0.5]), np.array([True])) is None


def test_the_exporter_serves_every_synfin_eval_series() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from synfinance.processors.evaluation.exporter import METRIC_NAMES, ScoreboardCollector

    registry = CollectorRegistry()
    collector = ScoreboardCollector("my.decisions")
    registry.register(collector)
    collector.update(score(join(_observed(), threshold=0.5)), {"transactions": 8, "labels": 8, "decisions": 7})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}
    assert {name for name, _ in samples} == set(METRIC_NAMES)
    engine = ("engine", "my.decisions")
    assert samples[("synfin_eval_recall", (engine, ("fraud_type", "all"), ("point", "decline")))] == 0.25
    assert samples[("synfin_eval_precision", (engine, ("fraud_type", "card_testing"), ("point", "decline")))] == 0.5
    assert samples[("synfin_eval_transactions", (engine, ("kind", "unknown_decisions")))] == 2
    assert samples[("synfin_eval_records_total", (engine, ("kind", "decisions")))] == 7
    assert samples[("synfin_eval_fraud_amount_rupees", (engine, ("fraud_type", "all"), ("outcome", "caught")))] == 2.0
    assert samples[("synfin_eval_scenarios", (engine, ("fraud_type", "stolen_card"), ("outcome", "missed")))] == 1
    assert samples[("synfin_eval_decision_latency_seconds", (engine, ("quantile", "0.5")))] == 0.015
    assert samples[("synfin_eval_anomaly_fpr", (("anomaly_type", "geographic"), engine,
                                                ("point", "decline_or_review")))] == 1.0


def test_scores_on_one_topic_and_alerts_on_another_combine() -> None:
    seen = Observed(sources=2)
    for k in range(1, 5):
        seen.add_transaction(f"T{k}", k * S, 100)
    for k, s in enumerate([0.9, 0.8, 0.2], start=1):  # topic 0: scores only (T4 never scored)
        seen.add_decision(f"T{k}", s, NO_VERDICT, k * S + 1_000, 0, source=0)
    seen.add_decision("T1", 0.9, DECLINE, None, 7 * S, source=1)  # topic 1: alerts; T2 scored high, not alerted
    seen.add_decision("T1", 0.9, DECLINE, None, 8 * S, source=1)  # a redelivered alert
    seen.add_decision("T4", None, DECLINE, None, 9 * S, source=1)
    j = join(seen, threshold=0.5)
    assert j.verdict.tolist() == [DECLINE, 0, 0, DECLINE]  # no alert = approved, whatever the score
    assert j.score.tolist() == [0.9, 0.8, 0.2, NO_SCORE]
    assert j.decided_at.tolist() == [S + 1_000, 2 * S + 1_000, 3 * S + 1_000, 9 * S]  # the first topic's time
    assert (j.counts["duplicate_decisions"], j.counts["decided"], j.counts["decisions"]) == (1, 4, 6)
    no_alerts = Observed(sources=2)
    no_alerts.add_transaction("T1", S, 100)
    no_alerts.add_decision("T1", 0.99, NO_VERDICT, None, S, source=0)  # the alerts topic is still empty
    assert join(no_alerts, threshold=0.5).verdict.tolist() == [0]


def test_our_scored_and_alert_records_are_decisions() -> None:
    scored = {"transaction_id": "T1", "customer_id": "C1", "event_time": 10 * S, "amount_paise": 500,
              "features": {"txn_count_5m": 0, "txn_count_1h": 0, "txn_count_24h": 0, "amount_sum_1h_paise": 0,
                           "amount_sum_24h_paise": 0, "amount_zscore": 0.0, "distinct_merchants_1h": 0,
                           "distinct_devices_24h": 0, "distinct_cities_24h": 0, "seconds_since_prev": None,
                           "km_from_prev": None, "speed_kmh_from_prev": None, "km_from_home": 0.0,
                           "is_new_device": False, "is_new_merchant": False, "declines_1h": 0, "small_txns_1h": 0,
                           "hour_of_day": 1, "is_night": True, "is_weekend": False, "merchant_fraud_rate": 0.0},
              "score": 0.75, "model_version": "m", "processed_at": 99, "processing_latency_ms": 12.5}
    assert parse_decision(encode("scored_transaction", scored)) == Decision("T1", 0.75, NO_VERDICT, 10 * S + 12_500)
    alert = {"alert_id": "A-T1", "transaction_id": "T1", "customer_id": "C1", "event_time": 10 * S, "score": 0.75,
             "threshold": 0.5, "model_version": "m", "reasons": [], "created_at": 99}
    assert parse_decision(encode("alert", alert)) == Decision("T1", 0.75, DECLINE, None)
