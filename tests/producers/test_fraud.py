"""Fraud and anomaly injection (SPEC §4): rates, mixes, labels, and each scenario's signature in the data."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import pytest

from producers.events import ANOMALY_TYPES, FRAUD_TYPES
from producers.records import RecordEncoder
from producers.scenarios.catalogue import SCENARIOS
from producers.scenarios.plans import THRESHOLD_AMOUNTS
from producers.stream import StreamConfig, TransactionStream
from producers.world.geography import haversine_km
from schemas.codec import decode, schema_json

LABEL_FIELDS = {"is_fraud", "fraud_type", "scenario_id", "is_anomaly", "anomaly_type", "severity", "label_time"}
DAY_US = 86_400_000_000


def generate(events: int, **options: Any) -> tuple[TransactionStream, list[dict[str, Any]], list[dict[str, Any]]]:
    stream = TransactionStream(StreamConfig(seed=21, customers=6_000, merchants=1_200, **options))
    batch = next(stream.batches(events))
    encoder = RecordEncoder(stream.world)
    return (stream, [decode(r) for r in encoder.encode_transactions(batch)],
            [decode(r) for r in encoder.encode_labels(batch)])


@pytest.fixture(scope="module")
def at_2pct() -> tuple[TransactionStream, list[dict[str, Any]], list[dict[str, Any]]]:
    return generate(300_000, fraud_rate=0.02, anomaly_rate=0.02)


@pytest.fixture(scope="module")
def joined(at_2pct: tuple[TransactionStream, list[dict[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    _, transactions, labels = at_2pct
    assert [t["transaction_id"] for t in transactions] == [label["transaction_id"] for label in labels]
    return [{**t, **label} for t, label in zip(transactions, labels, strict=True)]


def scenarios_of(joined: list[dict[str, Any]], fraud_type: str) -> dict[str, list[dict[str, Any]]]:
    """The complete scenarios of a type: those that started at least 6 days before the data ends (every
    planner finishes within 6 days), so none is cut off by the end of the sample."""
    cutoff = joined[-1]["event_time"] - 6 * DAY_US
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in joined:
        if row["fraud_type"] == fraud_type:
            groups[row["scenario_id"]].append(row)
    complete = {key: rows for key, rows in groups.items() if min(r["event_time"] for r in rows) < cutoff}
    assert len(complete) >= 5, f"too few {fraud_type} scenarios to check"
    return complete


def test_transaction_schema_has_no_label_field() -> None:
    names = {field["name"] for field in schema_json("transaction")["fields"]}
    assert not names & LABEL_FIELDS
    assert {field["name"] for field in schema_json("label")["fields"]} >= LABEL_FIELDS


def test_realised_rates_within_10_percent_at_half_a_percent() -> None:
    _, _, labels = generate(300_000, fraud_rate=0.005, anomaly_rate=0.01)
    realised = sum(label["is_fraud"] for label in labels) / len(labels)
    assert abs(realised / 0.005 - 1) < 0.10, realised
    anomalies = sum(label["is_anomaly"] for label in labels) / len(labels)
    assert abs(anomalies / 0.01 - 1) < 0.10, anomalies


def test_rates_and_mix_at_2_percent(joined: list[dict[str, Any]]) -> None:
    n = len(joined)
    frauds = [row for row in joined if row["is_fraud"]]
    assert abs(len(frauds) / n / 0.02 - 1) < 0.10
    assert abs(sum(row["is_anomaly"] for row in joined) / n / 0.02 - 1) < 0.10
    mix = Counter(row["fraud_type"] for row in frauds)
    for spec in SCENARIOS:
        share = mix[spec.name] / len(frauds)
        assert abs(share / spec.weight - 1) <= 0.25, (spec.name, share, spec.weight)
    kinds = Counter(row["anomaly_type"] for row in joined if row["is_anomaly"])
    anomalies = sum(kinds.values())
    for kind in ANOMALY_TYPES:
        assert abs(kinds[kind] / anomalies / 0.25 - 1) <= 0.25, (kind, kinds)


def test_every_label_has_exactly_one_type(joined: list[dict[str, Any]]) -> None:
    for row in joined:
        if row["is_fraud"]:
            assert row["fraud_type"] in FRAUD_TYPES and row["scenario_id"] is not None
            assert "combined" not in row["fraud_type"].lower()
            assert not row["is_anomaly"]
        else:
            assert row["fraud_type"] is None and row["scenario_id"] is None
        if row["is_anomaly"]:
            assert row["anomaly_type"] in ANOMALY_TYPES and 0.0 < row["severity"] <= 1.0
        else:
            assert row["anomaly_type"] is None and row["severity"] == 0.0
        assert row["label_time"] >= row["event_time"]


def test_label_delays(joined: list[dict[str, Any]]) -> None:
    legit = [row["label_time"] - row["event_time"] for row in joined if not row["is_fraud"]]
    assert min(legit) >= 3_600_000_000 and max(legit) <= 6 * 3_600_000_000
    fraud = [row["label_time"] - row["event_time"] for row in joined if row["is_fraud"]]
    chargebacks = [d for d in fraud if d >= 30 * DAY_US]
    assert 0.1 < len(chargebacks) / len(fraud) < 0.6
    assert max(fraud) <= 90 * DAY_US
    friendly = [row["label_time"] - row["event_time"] for row in joined if row["fraud_type"] == "friendly_fraud"]
    assert friendly and min(friendly) >= 30 * DAY_US


def test_immediate_labels() -> None:
    _, _, labels = generate(20_000, label_delay="0")
    assert all(label["label_time"] == label["event_time"] for label in labels)


def test_card_testing_signature(joined: list[dict[str, Any]]) -> None:
    for rows in scenarios_of(joined, "card_testing").values():
        large = max(rows, key=lambda r: r["amount_paise"])
        probes = [r for r in rows if r["amount_paise"] < 100_00 and r["entry_mode"] == "CNP"
                  and r["instrument_id"] == large["instrument_id"]
                  and 0 < large["event_time"] - r["event_time"] <= 10 * 60_000_000 + 12 * 50_000_000]
        assert len(probes) >= 5 and large["amount_paise"] >= 15_000_00
        assert sum(r["status"] == "DECLINED" for r in probes) >= 1 or len(probes) < 4


def test_card_cloning_signature(joined: list[dict[str, Any]]) -> None:
    for rows in scenarios_of(joined, "card_cloning").values():
        present = [r for r in rows if r["entry_mode"] in {"SWIPE", "CONTACTLESS", "CHIP"} and r["channel"] == "POS"]
        speeds = [float(haversine_km(a["latitude"], a["longitude"], b["latitude"], b["longitude"]))
                  / ((b["event_time"] - a["event_time"]) / 3.6e9) for a, b in itertools.pairwise(present)]
        assert max(speeds) > 800.0


def test_account_takeover_signature(stream_and_joined: tuple[TransactionStream, list[dict[str, Any]]]) -> None:
    stream, joined = stream_and_joined
    for rows in scenarios_of(joined, "account_takeover").values():
        for r in rows:
            k = int(r["customer_id"][1:]) - 1
            own = stream.world.customers.record(k, 0)
            assert r["device_id"] not in {d["device_id"] for d in own["devices"]}
            assert r["city"] != own["home_city"] and r["amount_paise"] >= 10_000_00
            assert r["channel"] in {"ECOMMERCE", "IN_APP"}


@pytest.fixture(scope="module")
def stream_and_joined(at_2pct: tuple[TransactionStream, list[dict[str, Any]], list[dict[str, Any]]],
                      joined: list[dict[str, Any]]) -> tuple[TransactionStream, list[dict[str, Any]]]:
    return at_2pct[0], joined


def test_sim_swap_and_collect_scam_pay_new_payees(stream_and_joined: tuple[TransactionStream,
                                                                           list[dict[str, Any]]]) -> None:
    stream, joined = stream_and_joined
    customers = stream.world.customers
    for fraud_type, entry in (("sim_swap", "UPI_INTENT"), ("upi_collect_scam", "UPI_COLLECT")):
        for rows in scenarios_of(joined, fraud_type).values():
            k = int(rows[0]["customer_id"][1:]) - 1
            start, count = int(customers.payee_start[k]), int(customers.payee_count[k])
            contacts = set(customers.payee_vpas[start:start + count])
            for r in rows:
                assert r["transaction_type"] == "P2P_TRANSFER" and r["payment_mode"] == "UPI"
                assert r["entry_mode"] == entry and r["payee_vpa"] not in contacts
            devices = {d["device_id"] for d in customers.record(k, 0)["devices"]}
            assert all((r["device_id"] in devices) == (fraud_type == "upi_collect_scam") for r in rows)


def test_mule_ring_signature(joined: list[dict[str, Any]]) -> None:
    for rows in scenarios_of(joined, "mule_ring").values():
        mule_vpas = {r["payer_vpa"] for r in rows if r["payer_vpa"] in {x["payee_vpa"] for x in rows}}
        inbound = [r for r in rows if r["payee_vpa"] in mule_vpas]
        outbound = [r for r in rows if r["payer_vpa"] in mule_vpas]
        assert len({r["customer_id"] for r in inbound}) >= 3 and len(mule_vpas) <= 3
        for out in outbound:
            mule, when = out["payer_vpa"], out["event_time"]
            received = [r for r in inbound if r["payee_vpa"] == mule and r["event_time"] < when]
            sent = [o for o in outbound if o["payer_vpa"] == mule and o["event_time"] <= when]
            # forwarded within minutes of the latest receipt, never more than came in
            assert 0 < out["event_time"] - max(r["event_time"] for r in received) <= 30 * 60_000_000
            assert sum(o["amount_paise"] for o in sent) <= sum(r["amount_paise"] for r in received)


def test_merchant_collusion_signature(joined: list[dict[str, Any]]) -> None:
    rows = [r for group in scenarios_of(joined, "merchant_collusion").values() for r in group]
    assert {r["amount_paise"] / 100 for r in rows} <= set(THRESHOLD_AMOUNTS)
    by_merchant: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_merchant[r["merchant_id"]].add(r["instrument_id"])
    assert len(by_merchant) <= 12
    assert max(len(cards) for cards in by_merchant.values()) >= 3


def test_stolen_card_and_bust_out_signatures(joined: list[dict[str, Any]]) -> None:
    for rows in scenarios_of(joined, "stolen_card").values():
        for r in rows:
            assert r["transaction_type"] == "CASH_WITHDRAWAL" or r["merchant_category"] in {
                "jewellery", "electronics", "cash_like"}
            assert r["amount_paise"] >= 8_000_00 and r["card_type"] is not None
    for rows in scenarios_of(joined, "bust_out").values():
        assert len(rows) >= 4 and all(r["payment_mode"] == "CREDIT_CARD" and r["amount_paise"] >= 20_000_00
                                      for r in rows)
        assert max(r["event_time"] for r in rows) - min(r["event_time"] for r in rows) <= 3 * DAY_US


def test_refund_qr_swap_and_replay_signatures(joined: list[dict[str, Any]]) -> None:
    for rows in scenarios_of(joined, "refund_abuse").values():
        assert len(rows) >= 2 and all(r["transaction_type"] == "REFUND" and r["channel"] != "POS" for r in rows)
    merchant_vpa = {r["merchant_id"]: r["payee_vpa"] for r in joined if r["payment_mode"] == "UPI"
                    and r["merchant_id"] is not None and not r["is_fraud"]}
    for rows in scenarios_of(joined, "qr_code_swap").values():
        for r in rows:
            assert r["entry_mode"] == "QR_SCAN" and r["merchant_id"] is not None
            assert r["payee_vpa"] != merchant_vpa.get(r["merchant_id"], "unknown") and "@" in r["payee_vpa"]
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in joined:
        by_customer[r["customer_id"]].append(r)
    for rows in scenarios_of(joined, "transaction_replay").values():
        for r in rows:
            earlier = [x for x in by_customer[r["customer_id"]] if x["merchant_id"] == r["merchant_id"]
                       and x["amount_paise"] == r["amount_paise"] and 0 < r["event_time"] - x["event_time"] <= 360e6]
            assert earlier
