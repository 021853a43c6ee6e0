"""Label revisions through the real sink: every (transaction_id, revision) is one row of history, and
the views show each transaction's highest revision, whatever order the revisions arrived in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synfinance.schemas.codec import decode, encode
from tests.sinks.conftest import Records

pytestmark = pytest.mark.integration

DAY_US = 86_400_000_000


def _revision(label: dict[str, Any], revision: int) -> dict[str, Any]:
    """Revision ``revision`` of a first label: each one flips the verdict (a chargeback of a legitimate
    transaction, or a fraud report withdrawn), 45 days after the previous one."""
    fraud = label["is_fraud"] != (revision % 2 == 1)
    return {**label, "revision": revision, "is_fraud": fraud,
            "fraud_type": (label["fraud_type"] or "friendly_fraud") if fraud else None,
            "scenario_id": label["scenario_id"] if fraud else None,
            "label_time": label["label_time"] + revision * 45 * DAY_US}


def _records(labels: list[dict[str, Any]]) -> Records:
    out = Records()
    for label in labels:
        out.keys.append(label["customer_id"].encode())
        out.values.append(encode("label", label))
        out.timestamps.append(label["label_time"] // 1000)
    return out


def _time(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def test_the_views_show_the_highest_revision_whatever_the_arrival_order(rig: Any, stream: Any) -> None:
    n = 300
    firsts = [decode(v) for v in stream.labels.values[:n]]
    assert {f["revision"] for f in firsts} == {0}
    assert 0 < sum(f["is_fraud"] for f in firsts) < n  # both verdicts get revised
    # 0-99: revision 0, later 1. 100-149: 1 first, then 0. 150-199: 2 first, then 0, then 1.
    # 200-249: 0 and 1 together, then both again (redelivered). 250-299: 0 only, delivered twice.
    phases: list[list[dict[str, Any]]] = [[], [], []]
    latest: dict[str, dict[str, Any]] = {}
    for i, first in enumerate(firsts):
        rev = [first, _revision(first, 1), _revision(first, 2)]
        if i < 100:
            order = [[0], [1], []]
        elif i < 150:
            order = [[1], [0], []]
        elif i < 200:
            order = [[2], [0], [1]]
        elif i < 250:
            order = [[0, 1], [1, 0], []]
        else:
            order = [[0], [], [0]]
        for phase, revisions in enumerate(order):
            phases[phase] += [rev[r] for r in revisions]
        latest[first["transaction_id"]] = rev[max(r for revisions in order for r in revisions)]

    rig.produce("transactions", stream.transactions.slice(0, n))
    for phase in phases:  # each phase lands (and is committed) before the next is produced
        rig.produce("labels", _records(phase))
        rig.run_sink("--topics", "transactions,labels")

    history = rig.query("SELECT transaction_id, revision, is_fraud, fraud_type, label_time FROM labels")
    expected_history = {(r["transaction_id"], r["revision"], r["is_fraud"], r["fraud_type"], _time(r["label_time"]))
                        for phase in phases for r in phase}
    assert len(expected_history) == 100 * 2 + 50 * 2 + 50 * 3 + 50 * 2 + 50
    assert len(history) == len(expected_history)  # one row per (transaction, revision), replays or not
    assert set(history) == expected_history

    shown = rig.query("SELECT transaction_id, label_revision, is_fraud, fraud_type, scenario_id, label_time "
                      "FROM transactions_labelled")
    assert len(shown) == n
    assert sorted(shown) == sorted((t, r["revision"], r["is_fraud"], r["fraud_type"], r["scenario_id"],
                                    _time(r["label_time"])) for t, r in latest.items())
    assert rig.query("SELECT label_revision, count(*) FROM transactions_labelled GROUP BY 1 ORDER BY 1") == [
        (0, 50), (1, 200), (2, 50)]
    assert rig.query("SELECT count(*), count(DISTINCT transaction_id) FROM labels_latest") == [(n, n)]
    assert rig.dead_letters() == []
