"""Label revisions: the wire field, the engine's corrections and no-ops, and merchant risk under the latest label."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

from synfinance.common.units import DAY_US, HOUR_US
from synfinance.processors import wire
from synfinance.processors.engine import Engine
from synfinance.processors.labelled_inputs import LabelledInputs
from synfinance.processors.risk import RiskReplica
from synfinance.processors.scoring import FraudModel, PrequentialAUC
from synfinance.processors.state import dumps, loads
from synfinance.processors.wire import LabelFacts, decode_rows, read_label
from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import encode
from tests.processors.test_engine import assert_features_equal, simulate

N = 4_000  # transactions scored by the engine tests (all in one partition)


def facts(label: dict[str, Any], **change: Any) -> LabelFacts:
    return LabelFacts(label["transaction_id"], label["customer_id"], label["event_time"], label["is_fraud"],
                      label["label_time"], label["revision"])._replace(**change)


def test_the_fast_reader_the_codec_and_the_batch_decoder_agree_on_revision(revised: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, _ = revised
    values = dataset.label_values + [encode("label", {**dataset.labels[0], "revision": r})
                                             for r in (2, 300, 2**31 - 1)]
    fast = [read_label(v) for v in values]
    assert {f.revision for f in fast} == {0, 1, 2, 300, 2**31 - 1}
    batch = [LabelFacts(**row) for row in decode_rows(BatchDecoder("label"), values, LabelFacts._fields)]
    monkeypatch.setattr(wire, "_LABEL_PREFIX", b"\x00" * 10)  # every value now takes the codec's path
    assert [read_label(v) for v in values] == fast == batch


def split_labels(dataset: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first labels and the revisions of the first N transactions, in label-time order."""
    ids = {r["transaction_id"] for r in dataset.transactions[:N]}
    mine = [label for label in dataset.labels if label["transaction_id"] in ids]
    return [label for label in mine if label["revision"] == 0], [label for label in mine if label["revision"] > 0]


def scored_engine(dataset: Any, with_labels: bool = True) -> tuple[Engine, dict[str, float], list[dict[str, Any]]]:
    """An engine that scored the first N transactions (learning, `with_labels`, their first labels up to
    each one's event time); their scores, and the first labels it was not given."""
    engine = Engine(FraudModel(), RiskReplica(1, 90 * DAY_US), dataset.homes)
    engine.assign(0, {})
    firsts, _ = split_labels(dataset)
    scores, given = {}, 0
    for record in dataset.transactions[:N]:
        while with_labels and given < len(firsts) and firsts[given]["label_time"] <= record["event_time"]:
            engine.label(0, facts(firsts[given]))
            given += 1
        scored = engine.score(0, record)
        assert scored is not None
        scores[record["transaction_id"]] = scored.scored["score"]
    return engine, scores, firsts[given:]


def label_all(engine: Engine, labels: list[dict[str, Any]]) -> None:
    for label in labels:
        engine.label(0, facts(label))
    engine.learn_until(max(label["label_time"] for label in labels))


def sampled(txn_id: str, share: float = 0.2) -> bool:
    return zlib.crc32(txn_id.encode()) < int(share * 2**32)


def test_a_chargeback_is_learned_as_a_correction_and_counted_under_the_true_label(revised: Any) -> None:
    dataset, _ = revised
    engine, scores, rest = scored_engine(dataset)
    firsts, revisions = split_labels(dataset)
    assert len(revisions) >= 10 and any(sampled(r["transaction_id"]) for r in revisions)
    assert len(set(scores.values())) > 1000  # the model learned while it scored
    label_all(engine, rest)
    rows = np.array([engine.held(0, r["transaction_id"]).x() for r in revisions])
    before, learned_before = engine.model.score_rows(rows), engine.model.learned
    assert all(not engine.held(0, r["transaction_id"]).is_fraud for r in revisions)
    label_all(engine, revisions)

    assert engine.counters.revisions_learned == len(revisions)
    assert engine.counters.revisions_not_learned == engine.counters.stale_revisions == 0
    # one step of the fraud label each, and one undoing the legitimate step of those sampled into learning
    undone = sum(sampled(r["transaction_id"]) for r in revisions)
    assert engine.model.learned - learned_before == len(revisions) + undone
    for r in revisions:
        held = engine.held(0, r["transaction_id"])
        assert (held.is_fraud, held.learned, held.revision) == (True, True, 1)
    assert engine.model.score_rows(rows).mean() > before.mean()
    # every scored transaction counts once, against its latest label, at the score it was given
    truth = {label["transaction_id"]: label["is_fraud"] for label in firsts + revisions}  # revisions last
    want = PrequentialAUC()
    for txn_id, score in scores.items():
        want.update(score, truth[txn_id])
    assert np.array_equal(engine.model.quality.positives, want.positives)
    assert np.array_equal(engine.model.quality.negatives, want.negatives)


def test_undoing_a_step_returns_the_weights_to_first_order(dataset: Any) -> None:
    from synfinance.processors.model_input import model_row

    model = FraudModel()
    rows = np.array([model_row(dataset.reference[r["transaction_id"]], r) for r in dataset.transactions[:500]])
    model.observe(rows)
    for row in rows[:300]:
        model.learn(row, bool(row[0] > 7.0))
    regression = model.pipeline["LogisticRegression"]

    def weights() -> np.ndarray:
        return np.array([regression.intercept, *regression.weights.values()])

    before = weights()
    model.learn(rows[400], False, 1.0)
    moved = np.abs(weights() - before).max()
    model.learn(rows[400], False, -1.0)
    # what is left is second order: the step moved the score the undo is computed at
    assert moved > 0 and np.abs(weights() - before).max() < 0.1 * moved


def test_stale_and_duplicate_revisions_are_no_ops(revised: Any) -> None:
    dataset, _ = revised
    engine, _, rest = scored_engine(dataset)
    _, revisions = split_labels(dataset)
    label_all(engine, rest)
    first, second = revisions[0], revisions[1]
    horizon = revisions[-1]["label_time"] + DAY_US
    engine.label(0, facts(first))
    engine.label(0, facts(first))  # re-sent before it is due
    engine.learn_until(first["label_time"])
    assert (engine.counters.revisions_learned, engine.counters.stale_revisions) == (1, 1)

    def snapshot() -> tuple[int, bytes, bytes]:
        quality = engine.model.quality
        return engine.model.learned, quality.positives.tobytes(), quality.negatives.tobytes()

    applied = snapshot()
    engine.label(0, facts(first))  # re-sent after it was applied
    engine.label(0, facts(first, revision=0))  # the first verdict again
    engine.learn_until(horizon)
    assert snapshot() == applied
    assert (engine.counters.stale_revisions, engine.counters.stale_labels) == (2, 1)
    # a higher revision reverts it (fraud -> legitimate); the one below it is then stale
    engine.label(0, facts(first, revision=2, is_fraud=False, label_time=first["label_time"] + HOUR_US))
    engine.label(0, facts(second))
    engine.learn_until(horizon)
    assert engine.counters.revisions_learned == 3
    frauds = int(np.frombuffer(applied[1], np.int64).sum())
    assert engine.model.quality.positives.sum() == frauds  # first left the frauds, second joined them
    engine.label(0, facts(first))
    engine.learn_until(horizon)
    assert engine.counters.stale_revisions == 3
    held = engine.held(0, first["transaction_id"])
    assert (held.is_fraud, held.revision) == (False, 2)


def test_a_revision_after_its_input_expired_is_counted_and_not_learned(revised: Any) -> None:
    dataset, _ = revised
    engine, _, rest = scored_engine(dataset)
    _, revisions = split_labels(dataset)
    label_all(engine, rest)
    by_age = sorted(revisions, key=lambda r: r["event_time"])
    old, young = by_age[0], by_age[-1]
    engine.expire(old["event_time"] + 1)  # the window has passed `old`, not `young`
    learned = engine.model.learned
    label_all(engine, [old])
    assert engine.model.learned == learned and engine.counters.revisions_not_learned == 1
    label_all(engine, [young])
    assert engine.counters.revisions_learned == 1
    engine.expire(dataset.transactions[N]["event_time"])  # past every input: all dropped
    assert engine.inputs_count() == 0


def test_revisions_before_the_first_label_is_learned_apply_in_label_time_order(revised: Any) -> None:
    dataset, _ = revised
    engine, _, _ = scored_engine(dataset, with_labels=False)
    firsts, revisions = split_labels(dataset)
    live, early = revisions[0], revisions[1]
    by_id = {label["transaction_id"]: label for label in firsts}
    # `live`: first label and revision both arrive before either is due: applied in label-time order
    engine.label(0, facts(by_id[live["transaction_id"]]))
    engine.label(0, facts(live))
    # `early`: the revision comes first and is due before the first label, which is then stale
    engine.label(0, facts(early, label_time=by_id[early["transaction_id"]]["label_time"] - 1))
    engine.label(0, facts(by_id[early["transaction_id"]]))
    learned = engine.model.learned
    engine.learn_until(max(live["label_time"], early["label_time"]))
    assert engine.counters.revisions_learned == 2
    # live: its first label (if sampled), the undo of it, the fraud; early: the fraud only
    assert engine.model.learned - learned == 2 * sampled(live["transaction_id"]) + 1 + 1
    for r in (live, early):
        held = engine.held(0, r["transaction_id"])
        assert (held.is_fraud, held.revision) == (True, 1)


def test_a_revision_before_its_transaction_is_scored_labels_it(revised: Any) -> None:
    dataset, revisions = revised
    engine, _, _ = scored_engine(dataset)
    later = next(r for r in revisions if r["transaction_id"] not in {t["transaction_id"]
                                                                     for t in dataset.transactions[:N]})
    record = next(t for t in dataset.transactions if t["transaction_id"] == later["transaction_id"])
    engine.label(0, facts(later, label_time=record["event_time"] - 1))  # due before the transaction
    engine.learn_until(record["event_time"] - 1)
    assert engine.counters.revisions_learned == 1
    assert engine.score(0, record) is not None
    engine.learn_until(record["event_time"])
    held = engine.held(0, later["transaction_id"])
    assert (held.is_fraud, held.learned, held.revision) == (True, True, 1)
    engine.label(0, facts(later, revision=0, is_fraud=False))
    assert engine.counters.stale_labels == 1


def test_labelled_inputs_come_back_from_their_records_after_a_restart(revised: Any) -> None:
    dataset, _ = revised
    _, revisions = split_labels(dataset)
    runs = []
    for restart in (False, True):
        engine, _, rest = scored_engine(dataset)
        label_all(engine, rest)
        if restart:
            records = engine.drain_inputs()[0]
            states = {c: loads(dumps(s)) for c, s in engine.states[0].items()}
            engine = Engine(FraudModel.from_bytes(engine.model.to_bytes()), engine.risk, dataset.homes)
            engine.assign(0, states, LabelledInputs.restore(records))
        label_all(engine, revisions)
        assert engine.counters.revisions_learned == len(revisions)
        runs.append(engine.model)
    assert runs[0].learned == runs[1].learned
    assert np.array_equal(runs[0].quality.positives, runs[1].quality.positives)
    rows = np.array([engine.held(0, r["transaction_id"]).x() for r in revisions])
    assert np.array_equal(runs[0].score_rows(rows), runs[1].score_rows(rows))  # the same model


def test_merchant_risk_counts_the_latest_revision_whatever_the_arrival_order(revised: Any) -> None:
    dataset, revisions = revised
    scored = simulate(dataset, seed=2)
    for txn_id, want in dataset.reference.items():
        assert_features_equal(scored[txn_id]["features"], want, txn_id)
    # the revisions moved the rate: a chargeback counts as a fraud of its merchant from its label time
    replica = RiskReplica(1, 90 * DAY_US)
    merchant_of = {t["transaction_id"]: t["merchant_id"] for t in dataset.transactions}
    for t in dataset.transactions:
        replica.add_transaction(wire.TransactionFacts(t["transaction_id"], t["event_time"], t["customer_id"],
                                                      t["merchant_id"]), 0)
    for label in dataset.labels:
        replica.add_label(facts(label), 0)
    assert replica.counters.revisions == len(revisions)
    charged = revisions[0]
    merchant = merchant_of[charged["transaction_id"]]
    at = charged["label_time"]
    steps = [replica.rate(merchant, at - 1), replica.rate(merchant, at)]
    assert steps[1] > steps[0]
    replica.add_label(facts(charged), 0)  # re-sent: no change
    assert replica.rate(merchant, at) == steps[1] and replica.counters.duplicates == 1
