"""Identifiers (producers/ids.py; SPEC §3 "Ids never collide", §4 "No artefacts"): every id carries the stream
id, two seeds never share an id, and no id's format tells a fraud from a legitimate payment."""

from __future__ import annotations

import doctest
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest

from synfinance.producers import ids
from synfinance.producers.stream import StreamConfig, TransactionStream
from tests.producers.stream_support import EncodedStream, encoded_stream

EVENTS = 100_000
ID_FIELDS = ("transaction_id", "customer_id", "merchant_id", "device_id", "payer_vpa", "payee_vpa", "instrument_id",
             "terminal_id", "ip_address", "card_bin", "masked_pan")


def test_doctests_run() -> None:
    result = doctest.testmod(ids)
    assert result.failed == 0 and result.attempted >= 4


def test_the_stream_id_depends_on_every_content_input_but_not_the_shard() -> None:
    base = StreamConfig(seed=1)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{6}", base.stream_id)  # Crockford base 32
    assert StreamConfig(seed=1).stream_id == base.stream_id
    assert StreamConfig(seed=1, shard=(1, 4)).stream_id == base.stream_id
    variants = [StreamConfig(seed=2), StreamConfig(seed=1, customers=10_001), StreamConfig(seed=1, merchants=2_001),
                StreamConfig(seed=1, start="2025-10-02"), StreamConfig(seed=1, fraud_rate=0.03),
                StreamConfig(seed=1, anomaly_rate=0.03), StreamConfig(seed=1, label_delay="0")]
    sids = [base.stream_id, *(v.stream_id for v in variants)]
    assert len(set(sids)) == len(sids) == 8


def test_every_id_of_a_stream_carries_its_stream_id(default_seed1_100k: EncodedStream) -> None:
    sid = default_seed1_100k.stream.config.stream_id
    low = sid.lower()
    patterns = {
        "transaction_id": rf"T{sid}-\d{{8}}-\d{{8}}", "customer_id": rf"C{sid}-\d{{8}}",
        "merchant_id": rf"M{sid}-\d{{7}}",
        "device_id": rf"D{sid}-\d{{20}}", "instrument_id": rf"I{sid}-\d{{8}}-\d",
        "terminal_id": rf"(P{sid}-\d{{7}}-\d\d|A{sid}-\d{{7}}-00)",
        # persons: first.last.<8 hex tag><stream id>; businesses: <slug>.<merchant number>.<stream id>
        "payer_vpa": rf"[a-z]+\.[a-z]+\.\d{{10}}{low}@[a-z]+",
        "payee_vpa": rf"([a-z]+\.[a-z]+\.\d{{10}}|[a-z0-9]+\.\d{{7}}\.){low}@[a-z]+",
    }
    rows = default_seed1_100k.decoded_transactions(tuple(patterns))
    for field, pattern in patterns.items():
        compiled = re.compile(pattern)
        values = {r[field] for r in rows if r[field] is not None}
        assert values and all(compiled.fullmatch(v) for v in values), (field, [v for v in values
                                                                               if not compiled.fullmatch(v)][:5])
    labels = default_seed1_100k.decoded_labels()
    scenarios = {label["scenario_id"] for label in labels if label["scenario_id"] is not None}
    assert len(scenarios) > 100 and all(re.fullmatch(rf"S{sid}-\d+", s) for s in scenarios)


@pytest.fixture(scope="module")
def default_seed2_100k() -> EncodedStream:
    return encoded_stream(StreamConfig(seed=2), EVENTS)


def id_sets(encoded: EncodedStream) -> dict[str, set[str]]:
    """Every id of each kind in a stream's transactions and labels."""
    rows = encoded.decoded_transactions(("transaction_id", "customer_id", "merchant_id", "device_id", "payer_vpa",
                                         "payee_vpa", "instrument_id", "terminal_id"))
    out: dict[str, set[str]] = {
        kind: {r[kind] for r in rows if r[kind] is not None}
        for kind in ("transaction_id", "customer_id", "merchant_id", "device_id", "instrument_id", "terminal_id")}
    out["vpa"] = {r[f] for r in rows for f in ("payer_vpa", "payee_vpa") if r[f] is not None}
    out["scenario_id"] = {label["scenario_id"] for label in encoded.decoded_labels() if label["scenario_id"]}
    return out


def test_no_id_of_seed_1_is_an_id_of_seed_2(default_seed1_100k: EncodedStream,
                                            default_seed2_100k: EncodedStream) -> None:
    one, two = id_sets(default_seed1_100k), id_sets(default_seed2_100k)
    assert default_seed1_100k.stream.config.stream_id != default_seed2_100k.stream.config.stream_id
    for kind in one:
        assert len(one[kind]) > 50 and len(two[kind]) > 50, kind
        assert not one[kind] & two[kind], (kind, sorted(one[kind] & two[kind])[:5])
    # nor across kinds: one stream's VPA is never the other's device id, and so on
    assert not set().union(*one.values()) & set().union(*two.values())
    assert len(one["transaction_id"]) == len(two["transaction_id"]) == EVENTS
    # the populations too, every device and payee included, not just those the first 100k events used
    wa, wb = default_seed1_100k.stream.world, default_seed2_100k.stream.world

    def population(world: Any) -> dict[str, list[str]]:
        c = world.customers
        return {"customers": c.ids, "merchants": world.merchants.ids, "devices": c.device_ids + world.actors.device_ids,
                "vpas": [v for v in c.instrument_vpa if v] + c.payee_vpas + world.merchants.vpa,
                "instruments": c.instrument_ids}

    for (name, first), second in zip(population(wa).items(), population(wb).values(), strict=True):
        assert len(set(first)) == len(first) and len(set(second)) == len(second), name  # unique within a stream
        assert not set(first) & set(second), name


def test_ids_change_with_the_population_size() -> None:
    """--customers is part of the stream id: the same customer is another id in a bigger population."""
    small = StreamConfig(seed=3, customers=300, merchants=200)
    large = StreamConfig(seed=3, customers=900, merchants=200)
    assert small.stream_id != large.stream_id
    ids_small = TransactionStream(small).world.customers.ids
    ids_large = TransactionStream(large).world.customers.ids
    assert not set(ids_small) & set(ids_large)
    assert [i.split("-")[1] for i in ids_small] == [i.split("-")[1] for i in ids_large[:300]]


# -- no format sets fraud apart ------------------------------------------------------------------------

def shape(field: str, value: str | None, sid: str) -> tuple[str, int] | None:
    """The format of an id: the stream id as `~`, then letters as `A` and digits as `9` with runs collapsed
    (punctuation kept), and the length of the original (0 for a VPA or an IP address, whose length is a
    name's or the octets' values).
    `first.last.<tag><sid>@handle` is `A.A.9~@A` whatever the name."""
    if value is None:
        return None
    text = value.replace(sid, "~").replace(sid.lower(), "~")
    text = re.sub(r"[A-Za-z]+", "A", text)
    return re.sub(r"[0-9]+", "9", text), 0 if field.endswith("_vpa") or field == "ip_address" else len(value)


def by_class(encoded: EncodedStream, fields: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = encoded.decoded_transactions(fields)
    fraud = (encoded.events.fraud_type >= 0).tolist()
    return [r for r, f in zip(rows, fraud, strict=True) if f], [r for r, f in zip(rows, fraud, strict=True) if not f]


KIND = ("payment_mode", "transaction_type", "channel", "entry_mode")


def test_no_id_format_tells_fraud_from_legitimate(default_seed1_100k: EncodedStream) -> None:
    """Within each kind of payment (a fraud is compared with legitimate payments of its kind), every id
    format and every VPA handle a fraud row shows, legitimate rows show too."""
    sid = default_seed1_100k.stream.config.stream_id
    frauds, legit = by_class(default_seed1_100k, ID_FIELDS + KIND)
    assert len(frauds) > 1_500 and len(legit) > 95_000

    def kind(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(r[k] for k in KIND)

    legit_by_kind: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in legit:
        legit_by_kind.setdefault(kind(r), []).append(r)
    compared = 0
    for field in ID_FIELDS:
        for k, rows in legit_by_kind.items():
            mine = [r for r in frauds if kind(r) == k]
            if len(rows) < 100 or not mine:
                continue
            compared += len(mine)
            legit_shapes = {shape(field, r[field], sid) for r in rows}
            unseen = Counter(s for s in (shape(field, r[field], sid) for r in mine) if s not in legit_shapes)
            assert not unseen, (field, k, unseen)
            if field.endswith("_vpa"):
                handles = {r[field].split("@")[1] for r in rows if r[field]}
                odd = Counter(h for h in (r[field].split("@")[1] for r in mine if r[field]) if h not in handles)
                assert not odd, (field, k, odd)
    assert compared > 0.9 * len(frauds) * len(ID_FIELDS)  # nearly every fraud row has a kind to compare with
    # the shape is a real test: the old fraudster device (DX + 7 digits) and payee (name###@handle) are caught
    assert shape("device_id", "DX0000042", sid) not in {shape("device_id", r["device_id"], sid) for r in legit}
    assert shape("payee_vpa", "rahulsharma142@ybl", sid) not in {shape("payee_vpa", r["payee_vpa"], sid)
                                                                      for r in legit}


def test_person_vpas_draw_their_handle_by_one_rule(default_seed1_100k: EncodedStream) -> None:
    """Customers' own VPAs (where mules are paid), their payees' and shop owners' personal VPAs use the
    handles in the same proportions: no handle marks one kind of person (a bank-app handle such as @sbi
    once marked customers' own VPAs, a person's handle a swapped QR code)."""
    world = default_seed1_100k.stream.world
    own = [v for v in world.customers.instrument_vpa if v]
    payees = world.customers.payee_vpas
    owners = [v for v in world.merchants.vpa if len(v.split("@")[0].split(".")[-1]) > 10]  # <tag><sid>, not <sid>
    assert len(own) > 1_500 and len(payees) > 10_000 and len(owners) > 30

    def shares(vpas: list[str]) -> dict[str, float]:
        counts = Counter(v.split("@")[1] for v in vpas)
        return {h: n / len(vpas) for h, n in counts.items()}

    everyone = shares(own + payees)
    for group in (own, payees):
        mine = shares(group)
        assert sum(abs(mine.get(h, 0.0) - p) for h, p in everyone.items()) < 0.05, mine
    assert set(shares(owners)) <= set(everyone)


def test_fraudsters_phones_and_accounts_come_from_the_shared_spaces(default_seed1_100k: EncodedStream) -> None:
    """Fraudsters' phones are numbered in the one device space (spelled by the same function), their
    accounts are people some customer already pays, and mules are paid on their own VPA."""
    world = default_seed1_100k.stream.world
    customers, actors = world.customers, world.actors
    assert set(actors.device_ids).isdisjoint(customers.device_ids)
    assert len(set(actors.device_ids)) == len(actors.device_ids)
    accounts = {customers.payee_vpas[i] for i in actors.fraud_payees.tolist()}
    assert len(accounts) == len(actors.fraud_payees) and accounts <= set(customers.payee_vpas)
    frauds, _ = by_class(default_seed1_100k, ("payee_vpa", "transaction_type", "merchant_id"))
    own_vpas = {v for v in customers.instrument_vpa if v}
    p2p_payees = Counter("fraudster" if r["payee_vpa"] in accounts else "mule" if r["payee_vpa"] in own_vpas
                         else "other" for r in frauds if r["transaction_type"] == "P2P_TRANSFER")
    assert p2p_payees["fraudster"] > 100 and p2p_payees["mule"] > 10 and p2p_payees["other"] == 0, p2p_payees
    assert np.isin(default_seed1_100k.events.device[default_seed1_100k.events.fraud_type >= 0],
                   np.arange(len(customers.device_ids), len(customers.device_ids) + len(actors.device_ids))).any()
