"""The processor's small parts: prefix readers, state wire form, prequential AUCs, model checkpoints."""

from __future__ import annotations

import os
import pickle
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from synfinance.common.units import DAY_US
from synfinance.processors.model_input import COLUMNS, model_input, model_row
from synfinance.processors.risk import RiskReplica
from synfinance.processors.scoring import FraudModel, PrequentialAUC
from synfinance.processors.state import CustomerState, Pending, dumps, loads
from synfinance.processors.wire import LabelFacts, TransactionFacts, read_label, read_transaction
from synfinance.schemas.codec import CodecError


def test_prefix_readers_agree_with_the_codec(dataset: Any) -> None:
    # refunds among them: the reader reads the leading fields of records that end with their purchase's id
    assert sum(r["original_transaction_id"] is not None for r in dataset.transactions[:3000]) >= 5
    for value, record in zip(dataset.transaction_values[:3000], dataset.transactions, strict=False):
        assert read_transaction(value) == TransactionFacts(record["transaction_id"], record["event_time"],
                                                           record["customer_id"], record["merchant_id"])
    for value, label in zip(dataset.label_values[:3000], dataset.labels, strict=False):
        assert read_label(value) == LabelFacts(label["transaction_id"], label["customer_id"], label["event_time"],
                                               label["is_fraud"], label["label_time"], label["revision"])
    with pytest.raises(CodecError):
        read_transaction(b"\xc3\x01garbage!")
    with pytest.raises(CodecError):
        read_label(dataset.transaction_values[0])  # a transaction is not a label
    with pytest.raises(CodecError):
        read_label(dataset.label_values[0][:-3])  # truncated


def test_state_round_trips_exactly(dataset: Any) -> None:
    from synfinance.processors.features import Txn

    state = CustomerState()
    for record in dataset.transactions[:50]:
        state.history.update(Txn.from_record(record))
    record = dataset.transactions[0]
    row = model_row(dataset.reference[record["transaction_id"]], record)
    state.pending["T1"] = Pending(5, 0.123456789012345, np.array(row).tobytes(), (True, 99, 0))
    state.early["T2"] = (False, 7, 0)
    state.revisions["T3"] = (True, 5, 1, 2)
    restored = loads(dumps(state))
    assert restored == state
    assert restored.history.mean == state.history.mean and restored.history.m2 == state.history.m2
    assert restored.expire(6) and list(restored.pending) == [] and list(restored.early) == ["T2"]
    assert restored.revisions == {}
    import pickle
    # a state written before revisions (format 3): every label is a first label
    body = pickle.loads(dumps(state))
    old = (3, body[1], {t: (*p[:3], p[3][:2]) for t, p in body[2].items()}, {t: e[:2] for t, e in body[3].items()})
    assert loads(pickle.dumps(old)) == CustomerState(state.history, state.pending, state.early)
    for hostile in (pickle.dumps((3, print)), pickle.dumps(CustomerState()), b"not a pickle", pickle.dumps((1, ()))):
        with pytest.raises(ValueError):
            loads(hostile)  # classes and functions are refused, never called; other formats named


def exact_roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def exact_average_precision(y: np.ndarray, s: np.ndarray) -> float:
    hits = y[np.argsort(-s, kind="stable")]
    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1) * hits).sum() / hits.sum())


def test_prequential_auc_is_close_to_the_exact_figures() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(8_000) < 0.03
    scores = 1 / (1 + np.exp(-(rng.normal(-4, 1.2, len(y)) + 2.0 * y)))
    metric = PrequentialAUC()
    for s, label in zip(scores.tolist(), y.tolist(), strict=True):
        metric.update(s, label)
    assert metric.count == 8_000
    assert metric.roc_auc() == pytest.approx(exact_roc_auc(y, scores), abs=2e-3)
    assert metric.pr_auc() == pytest.approx(exact_average_precision(y, scores), abs=5e-3)


def test_model_checkpoint_restores_the_same_scores(dataset: Any) -> None:
    model = FraudModel()
    label_of = {label["transaction_id"]: label["is_fraud"] for label in dataset.labels}
    rows = [(model_input(dataset.reference[r["transaction_id"]], r), label_of[r["transaction_id"]])
            for r in dataset.transactions[:2000]]
    for x, y in rows:
        model.quality.update(model.score(x), y)
        model.learn(x, y)
    restored = FraudModel.from_bytes(model.to_bytes())
    assert restored.learned == 2000 and restored.quality.roc_auc() == model.quality.roc_auc()
    assert [restored.score(x) for x, _ in rows[:100]] == [model.score(x) for x, _ in rows[:100]]


class _Runs:
    """A pickle that would run a shell command when loaded."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch /tmp/synfin-checkpoint-pwned",))


def test_a_checkpoint_that_names_any_other_class_is_refused() -> None:
    for hostile in (pickle.dumps(_Runs()), pickle.dumps({"pipeline": _Runs()}), pickle.dumps(datetime.now())):
        with pytest.raises(pickle.UnpicklingError, match="River pipeline only"):
            FraudModel.from_bytes(hostile)
    assert not os.path.exists("/tmp/synfin-checkpoint-pwned")


def test_batch_scoring_equals_rivers_own_scoring(dataset: Any) -> None:
    """score_rows applies River's predict_proba_one arithmetic to a matrix: the same scores, to rounding,
    including for inputs whose variance is still 0 and for weighted learning."""
    model = FraudModel()
    label_of = {label["transaction_id"]: label["is_fraud"] for label in dataset.labels}
    records = dataset.transactions[:3000]
    rows = [model_row(dataset.reference[r["transaction_id"]], r) for r in records]
    assert all(list(model_input(dataset.reference[r["transaction_id"]], r).values()) == row
               for r, row in zip(records[:200], rows, strict=False))
    checked = 0
    for start in range(0, len(rows), 500):
        chunk = np.array(rows[start:start + 500])
        river = np.array([model.score(dict(zip(COLUMNS, row, strict=True))) for row in chunk.tolist()])
        assert np.allclose(model.score_rows(chunk), river, rtol=1e-12, atol=1e-15)
        checked += len(chunk)
        model.observe(chunk)
        for row, r in zip(rows[start:start + 500], records[start:start + 500], strict=True):
            fraud = label_of[r["transaction_id"]]
            model.learn(row, fraud, 1.0 if fraud else 5.0)
    assert checked == 3000 and model.learned == 3000
    assert 0.0 < float(model.score_rows(np.array(rows[:1]))[0]) < 1.0


def test_batch_scaler_updates_equal_rivers_row_by_row(dataset: Any) -> None:
    from river import preprocessing

    records = dataset.transactions[:2000]
    rows = np.array([model_row(dataset.reference[r["transaction_id"]], r) for r in records])
    model, river = FraudModel(), preprocessing.StandardScaler()
    for start in range(0, len(rows), 300):  # uneven batches: 6 of 300, one of 200
        model.observe(rows[start:start + 300])
    for row in rows.tolist():
        river.learn_one(dict(zip(COLUMNS, row, strict=True)))
    scaler = model.pipeline["StandardScaler"]
    for column in COLUMNS:
        assert scaler.counts[column] == river.counts[column] == 2000
        assert scaler.means[column] == pytest.approx(river.means[column], rel=1e-9, abs=1e-12), column
        assert scaler.vars[column] == pytest.approx(river.vars[column], rel=1e-9, abs=1e-12), column
    assert any(scaler.vars[column] > 0 for column in COLUMNS if "=" in column)  # one-hot columns vary


def test_replica_drops_resent_records_and_orphans() -> None:
    replica = RiskReplica(label_partitions=1, max_label_delay_us=90 * DAY_US)
    replica.add_transaction(TransactionFacts("T1", 10, "C1", "M1"), 0)
    replica.add_label(LabelFacts("T1", "C1", 10, True, 20), 0)
    replica.add_label(LabelFacts("T1", "C1", 10, True, 20), 0)  # re-sent
    replica.add_transaction(TransactionFacts("T1", 10, "C1", "M1"), 0)  # re-sent
    replica.add_label(LabelFacts("T9", "C9", 12, True, 25), 0)  # its transaction never comes
    replica.add_transaction(TransactionFacts("T2", 40, "C2", "M1"), 0)  # partition past T9's event time
    replica.add_label(LabelFacts("T2", "C2", 40, False, 50), 0)
    assert replica.ready(30)
    assert replica.counters.duplicates == 2 and replica.counters.orphans == 1
    assert replica.rate("M1", 30) == (1 + 0.02 * 20.0) / (1 + 20.0)


def test_scored_records_encode_column_wise_as_the_codec_does(dataset: Any) -> None:
    from synfinance.processors.engine import Engine
    from synfinance.processors.outputs import ScoredEncoder
    from synfinance.schemas.codec import decode, encode

    engine = Engine(FraudModel(), RiskReplica(1, 90 * DAY_US), dataset.homes)
    engine.assign(0, {})
    prepared = [engine.prepare(0, record, received=1.7e9) for record in dataset.transactions[:1500]]
    batch = engine.score_prepared([p for p in prepared if p is not None])
    records = batch.records()
    assert len(records) == 1500 and any(r["features"]["seconds_since_prev"] is None for r in records)
    encoded = ScoredEncoder().encode(batch)
    assert encoded == [encode("scored_transaction", r) for r in records]
    assert decode(encoded[7]) == records[7]
