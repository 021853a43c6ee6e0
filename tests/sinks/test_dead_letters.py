"""Poison records: 100 corrupt or unstorable messages among valid ones go to the dead-letter topic, each
with its error and source in headers; every valid record still lands."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from synfinance.schemas.codec import decode, encode, single_object_prefix

pytestmark = pytest.mark.integration

VALID = 5_000
CORRUPT_PER_KIND = 10


def _corruptions(transactions: list[bytes], labels: list[bytes]) -> list[tuple[str, bytes, str]]:
    """(topic, value, expected error class) for 10 kinds x 10 of records the sink must not store."""
    rng = random.Random(8)
    txn = transactions[0]
    record = decode(txn)
    customer = record["customer_id"].encode()
    at = txn.index(customer)
    out: list[tuple[str, bytes, str]] = []
    for i in range(CORRUPT_PER_KIND):
        either = "transactions" if i % 2 else "labels"
        body = transactions[i + 1]
        out += [
            (either, rng.randbytes(rng.randint(1, 300)), "CodecError"),  # no framing at all
            (either, b"", "CodecError"),  # empty value
            (either, body[: rng.randint(11, len(body) - 1)], "CodecError"),  # truncated body
            (either, body + b"\x00\x01", "CodecError"),  # trailing bytes
            (either, b"\xc3\x01" + rng.randbytes(8) + body[10:], "CodecError"),  # unknown schema fingerprint
            (either, b"\x00\x00\x00\x00\x07" + body[10:], "CodecError"),  # Confluent framing, unknown id
            ("labels", transactions[i + 20], "SchemaMismatch"),  # a Transaction on the labels topic
            ("transactions", txn[:at] + b"\xff" + txn[at + 1:], "CodecError"),  # invalid UTF-8 in a string
            ("transactions", txn[:at] + b"\x00" + txn[at + 1:], "InvalidRecord"),  # NUL: PostgreSQL text refuses
            ("transactions", encode("transaction", {**record, "event_time": -(2**62)}), "InvalidRecord"),
        ]
    assert labels  # labels only serve as the valid neighbours here
    return out


def test_corrupt_records_go_to_the_dead_letter_topic_and_valid_ones_land(rig: Any, stream: Any) -> None:
    transactions = stream.transactions.slice(0, VALID)
    labels = stream.labels.slice(0, VALID)
    corrupt = _corruptions(transactions.values, labels.values)
    assert len(corrupt) == 100
    assert all(v.startswith(single_object_prefix("transaction")) for v in transactions.values[:1])

    # interleave: every corrupt record sits among valid ones of its topic
    expected: dict[bytes, tuple[str, bytes, str]] = {}
    positions: dict[bytes, tuple[str, int, int]] = {}
    for logical, valid in (("transactions", transactions), ("labels", labels)):
        mine = [(f"corrupt-{i:03d}".encode(), value, error) for i, (topic, value, error) in enumerate(corrupt)
                if topic == logical]
        mixed = valid.slice(0, 0)
        step = len(valid) // len(mine)
        for j in range(len(valid)):
            mixed.keys.append(valid.keys[j])
            mixed.values.append(valid.values[j])
            mixed.timestamps.append(valid.timestamps[j])
            if j % step == step // 2 and j // step < len(mine):
                key, value, error = mine[j // step]
                mixed.keys.append(key)
                mixed.values.append(value)
                mixed.timestamps.append(valid.timestamps[j])
                expected[key] = (rig.topics[logical], value, error)
        for key, (partition, offset) in zip(mixed.keys, rig.produce(logical, mixed), strict=True):
            if key in expected:
                positions[key] = (rig.topics[logical], partition, offset)
    assert len(expected) == 100

    rig.run_sink("--topics", "transactions,labels")

    assert rig.counts("transactions") == (VALID, VALID)
    assert rig.counts("labels") == (VALID, VALID)
    letters = rig.dead_letters()
    assert len(letters) == 100
    classes: Counter[str] = Counter()
    for key, value, headers in letters:
        assert key in expected, key
        topic, original, error_class = expected[key]
        assert value == original
        assert headers["synfin-error-class"] == error_class.encode()
        assert headers["synfin-error-message"]
        source_topic, partition, offset = positions[key]
        assert headers["synfin-source-topic"] == source_topic.encode() == topic.encode()
        assert headers["synfin-source-partition"] == str(partition).encode()
        assert headers["synfin-source-offset"] == str(offset).encode()
        assert headers["synfin-component"] == b"sink"
        classes[error_class] += 1
    assert {k for k, _, _ in letters} == set(expected)
    assert classes == {"CodecError": 70, "SchemaMismatch": 10, "InvalidRecord": 20}

