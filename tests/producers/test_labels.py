"""Labels as a bank learns them (producers/labels.py; SPEC §4): one first label per transaction after a delay
that does not depend on its class, and for the frauds charged back a revision 30-90 days later."""

from __future__ import annotations

import doctest
from collections import Counter
from typing import Any

import numpy as np
import pytest

from synfinance.producers import labels
from synfinance.producers.events import FRAUD_TYPES
from synfinance.producers.labels import DAY_US, HOUR_US, MINUTE_US, LabelDelays
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.seeded_stream import final_labels
from tests.producers.stream_support import EncodedStream, decode_all


def test_doctests_run() -> None:
    result = doctest.testmod(labels)
    assert result.failed == 0 and result.attempted >= 3


def test_first_delay_is_log_logistic_median_6h_clipped_to_10_minutes_and_7_days() -> None:
    delays = LabelDelays.parse("default")
    u = np.array([0.0, 1e-6, 0.25, 0.5, 0.75, 0.9, 1 - 1e-9])
    got = delays.first(u).tolist()
    assert got[0] == got[1] == 10 * MINUTE_US and got[-1] == 7 * DAY_US
    assert got[3] == 6 * HOUR_US
    # log-logistic, shape 1.5: the quantile at u is median x (u / (1 - u)) ** (1 / 1.5)
    for q, value in zip(u[2:6].tolist(), got[2:6], strict=True):
        assert value == pytest.approx(6 * HOUR_US * (q / (1 - q)) ** (1 / 1.5), rel=1e-9)
    assert delays.max_us == 90 * DAY_US
    for fixed in ("0", "immediate", "3600"):
        parsed = LabelDelays.parse(fixed)
        assert set(parsed.first(u).tolist()) == {parsed.fixed_us}
        assert parsed.fraud("friendly_fraud", np.random.default_rng(1)) == (parsed.fixed_us, -1)  # final at once


@pytest.fixture(scope="module")
def labelled(default_seed1_100k: EncodedStream) -> tuple[EncodedStream, list[dict[str, Any]]]:
    return default_seed1_100k, default_seed1_100k.decoded_labels()


def test_every_transaction_has_exactly_one_first_label(labelled: tuple[EncodedStream, list[dict[str, Any]]]) -> None:
    encoded, decoded = labelled
    ids = [t["transaction_id"] for t in encoded.decoded_transactions(("transaction_id",))]
    first = [label for label in decoded if label["revision"] == 0]
    assert [label["transaction_id"] for label in first] == ids  # one each, in transaction order
    assert len(decoded) == len(ids) + len(encoded.revisions)
    assert Counter(label["revision"] for label in decoded) == {0: len(ids), 1: len(encoded.revisions)}


def test_revisions_exist_only_for_frauds_and_say_the_fraud_truth(
        labelled: tuple[EncodedStream, list[dict[str, Any]]]) -> None:
    encoded, decoded = labelled
    events = encoded.events
    n = len(events)
    fraud = events.fraud_type >= 0
    revised = np.zeros(n, dtype=bool)
    revised[encoded.revised] = True
    assert revised.sum() == len(encoded.revisions) == int((events.revision_delay_us >= 0).sum()) > 300
    assert not (revised & ~fraud).any()  # only frauds are revised
    first, revisions = decoded[:n], decoded[n:]
    for row, revision in zip(encoded.revised.tolist(), revisions, strict=True):
        before = first[row]
        assert revision["transaction_id"] == before["transaction_id"] and revision["revision"] == 1
        # the bank first took it for legitimate; the chargeback says what it was
        assert (before["is_fraud"], before["fraud_type"], before["scenario_id"]) == (False, None, None)
        assert revision["is_fraud"] and revision["fraud_type"] == FRAUD_TYPES[events.fraud_type[row]]
        assert revision["scenario_id"] is not None
        age = revision["label_time"] - revision["event_time"]
        assert 30 * DAY_US <= age <= 90 * DAY_US and revision["label_time"] > before["label_time"]
    # frauds not revised are reported as frauds in their first label
    reported = fraud & ~revised
    assert all(first[i]["is_fraud"] for i in np.flatnonzero(reported).tolist())
    assert reported.sum() > revised.sum()


def test_the_final_label_says_fraud_iff_the_transaction_is_a_fraud(
        labelled: tuple[EncodedStream, list[dict[str, Any]]]) -> None:
    encoded, decoded = labelled
    final = final_labels(decoded)
    ids = [t["transaction_id"] for t in encoded.decoded_transactions(("transaction_id",))]
    assert len(final) == len(ids)
    truth = encoded.events.fraud_type.tolist()
    assert [final[i]["is_fraud"] for i in ids] == [t >= 0 for t in truth]
    assert [final[i]["fraud_type"] for i in ids] == [FRAUD_TYPES[t] if t >= 0 else None for t in truth]
    # the realised rate of the default stream, which first labels alone understate
    assert abs(sum(t >= 0 for t in truth) / len(ids) / 0.02 - 1) < 0.10
    assert sum(label["is_fraud"] for label in decoded[:len(ids)]) < 0.8 * sum(t >= 0 for t in truth)


def test_the_first_label_time_does_not_give_the_class_away(
        labelled: tuple[EncodedStream, list[dict[str, Any]]]) -> None:
    """A transaction still unlabelled at an age is no more likely fraud than the base rate."""
    encoded, decoded = labelled
    n = len(encoded.events)
    fraud = encoded.events.fraud_type >= 0
    age = np.array([label["label_time"] - label["event_time"] for label in decoded[:n]])
    assert age.min() >= 10 * MINUTE_US and age.max() <= 7 * DAY_US
    base = fraud.mean()
    for hours in (1, 6, 24):
        unlabelled = age > hours * HOUR_US
        assert unlabelled.sum() > 5_000, hours
        assert 1 / 1.5 <= fraud[unlabelled].mean() / base <= 1.5, (hours, fraud[unlabelled].mean(), base)
    # one distribution for both classes: the same median (6 h) for each
    for cls in (fraud, ~fraud):
        assert np.median(age[cls]) == pytest.approx(6 * HOUR_US, rel=0.15)


@pytest.mark.parametrize("label_delay", ["0", "3600"])
def test_immediate_and_fixed_delays_are_final_at_once(label_delay: str) -> None:
    stream = TransactionStream(StreamConfig(seed=21, customers=2_000, merchants=400, label_delay=label_delay))
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(20_000))
    assert (batch.revision_delay_us == -1).all()
    rows, revisions = encoder.encode_revisions(batch)
    assert len(rows) == 0 and revisions == []
    assert (batch.label_delay_us == int(label_delay) * 1_000_000).all()
    first = decode_all("label", encoder.encode_labels(batch))
    assert [label["is_fraud"] for label in first] == (batch.fraud_type >= 0).tolist()
    assert (batch.fraud_type >= 0).sum() > 200
    assert all(label["label_time"] - label["event_time"] == int(label_delay) * 1_000_000 for label in first)
