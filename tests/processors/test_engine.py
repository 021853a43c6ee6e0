"""The processing core against the reference features, with labels and transactions interleaved at random."""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from typing import Any

import pytest

from synfinance.common.units import DAY_US, HOUR_US
from synfinance.processors.engine import Engine, UnknownCustomer
from synfinance.processors.features import FEATURE_NAMES, risk_as_of
from synfinance.processors.risk import RiskReplica
from synfinance.processors.scoring import FraudModel
from synfinance.processors.state import dumps, loads
from synfinance.processors.wire import read_label, read_transaction

PARTITIONS = 4


def partition_of(customer_id: str) -> int:
    return zlib.crc32(customer_id.encode()) % PARTITIONS


def assert_features_equal(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for name in FEATURE_NAMES:
        a, b = got[name], want[name]
        if isinstance(b, float) and isinstance(a, float):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) or a == b, f"{where} {name}: {a} != {b}"
        else:
            assert a == b and type(a) is type(b), f"{where} {name}: {a!r} != {b!r}"


def simulate(dataset: Any, seed: int, restart_after: int | None = None, taken_over: int | None = None
             ) -> dict[str, dict[str, Any]]:
    """Feed the engine as a worker would: the replica reads all partitions, the worker scores each
    partition in order once risk is final; the order across queues is random (wall-clock arrival).
    `taken_over`: that partition's transactions are scored only once every other queue is empty, and the
    replica folds as a worker that does not own it (a dead worker's partition, taken over at the end)."""
    rng = random.Random(seed)
    parts: dict[str, list[deque[Any]]] = {"txn": [deque() for _ in range(PARTITIONS)],
                                          "label": [deque() for _ in range(PARTITIONS)],
                                          "main_txn": [deque() for _ in range(PARTITIONS)],
                                          "main_label": [deque() for _ in range(PARTITIONS)]}
    for value, record in zip(dataset.transaction_values, dataset.transactions, strict=True):
        p = partition_of(record["customer_id"])
        parts["txn"][p].append(value)
        parts["main_txn"][p].append(record)
    for label, value in sorted(zip(dataset.labels, dataset.label_values, strict=True),
                               key=lambda lv: (lv[0]["label_time"], lv[0]["transaction_id"])):
        p = partition_of(label["customer_id"])
        parts["label"][p].append(value)
        parts["main_label"][p].append(value)
    # a short fold lag, so labels are folded into counts many times over the ~3 days of the dataset
    replica = RiskReplica(PARTITIONS, max_label_delay_us=90 * DAY_US, fold_lag_us=2 * HOUR_US)
    engine = Engine(FraudModel(), replica, dataset.homes, threshold=0.5)
    for p in range(PARTITIONS):
        engine.assign(p, {})
    out: dict[str, dict[str, Any]] = {}
    while any(q for queues in parts.values() for q in queues):
        choices = [(k, p) for k, queues in parts.items() for p, q in enumerate(queues) if q]
        if taken_over is not None and len(choices) > 1:
            choices = [(k, p) for k, p in choices if (k, p) != ("main_txn", taken_over)]
        kind, p = rng.choice(choices)
        queue = parts[kind][p]
        if kind == "txn":
            replica.add_transaction(read_transaction(queue.popleft()), p)
        elif kind == "label":
            replica.add_label(read_label(queue.popleft()), p)
        elif kind == "main_label":
            engine.label(p, read_label(queue.popleft()))
        elif replica.ready(risk_as_of(queue[0]["event_time"])) or not (parts["txn"][p] or any(parts["label"])):
            record = queue.popleft()
            scored = engine.score(p, record)
            assert scored is not None
            out[record["transaction_id"]] = scored.scored
            if restart_after is not None and len(out) == restart_after:
                # a restart: states come back from their wire form, the model from its checkpoint
                restored = {q: {c: loads(dumps(s)) for c, s in engine.states[q].items()} for q in range(PARTITIONS)}
                engine = Engine(FraudModel.from_bytes(engine.model.to_bytes()), replica, dataset.homes)
                for q, states in restored.items():
                    engine.assign(q, states)
        heads = [q[0]["event_time"] for i, q in enumerate(parts["main_txn"]) if q and (i != taken_over or len(
            [queue for queues in parts.values() for queue in queues if queue]) == 1)]
        replica.compact(risk_as_of(min(heads)) if heads else None)
    assert engine.counters.inexact_risk == 0
    assert replica.fold_point > dataset.transactions[0]["event_time"]
    return out


@pytest.mark.parametrize("seed", [1])
def test_features_equal_the_reference_whatever_the_arrival_order(dataset: Any, seed: int) -> None:
    scored = simulate(dataset, seed)
    assert len(scored) == len(dataset.transactions)
    for txn_id, want in dataset.reference.items():
        assert_features_equal(scored[txn_id]["features"], want, txn_id)


def test_a_partition_taken_over_far_behind_the_fold_point_gets_the_reference_features(dataset: Any) -> None:
    """Its transactions take risk as of days whose labels were folded long before: still exact."""
    scored = simulate(dataset, seed=2, taken_over=1)
    assert len(scored) == len(dataset.transactions)
    for txn_id, want in dataset.reference.items():
        assert_features_equal(scored[txn_id]["features"], want, txn_id)


def test_a_restart_from_serialised_state_changes_no_feature(dataset: Any) -> None:
    scored = simulate(dataset, seed=3, restart_after=7_000)
    for txn_id, want in dataset.reference.items():
        assert_features_equal(scored[txn_id]["features"], want, txn_id)


def test_duplicates_are_not_scored_again_and_unknown_customers_raise(dataset: Any) -> None:
    engine = Engine(FraudModel(), RiskReplica(1, 90 * DAY_US), dataset.homes)
    engine.assign(0, {})
    first = dataset.transactions[0]
    assert engine.score(0, first) is not None
    assert engine.score(0, first) is None
    assert engine.counters.duplicates == 1
    with pytest.raises(UnknownCustomer):
        engine.score(0, {**first, "customer_id": "C99999999"})
