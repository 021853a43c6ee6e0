"""Field consistency of 100,000 generated transactions (SPEC §3, §10): no row the batch tool's traps."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import fastavro
import numpy as np

from synfinance.producers.stream import TransactionStream
from synfinance.producers.world.geography import CITIES, city_index, haversine_km
from synfinance.schemas.codec import decode, encode, load_schema

CARD_MODES = {"DEBIT_CARD": "DEBIT", "CREDIT_CARD": "CREDIT"}


def test_exactly_100k(transactions_100k: list[dict[str, Any]]) -> None:
    assert len(transactions_100k) == 100_000


def test_city_state_region_tier_and_coordinates_agree(transactions_100k: list[dict[str, Any]]) -> None:
    for t in transactions_100k:
        city = CITIES[city_index(t["city"])]
        assert (t["state"], t["region"], t["city_tier"]) == (city.state, city.region, city.tier), t
        # merchants and homes lie within a few km of their city's centre
        assert float(haversine_km(t["latitude"], t["longitude"], city.lat, city.lon)) < 15.0, t


def test_card_fields_follow_payment_mode(transactions_100k: list[dict[str, Any]]) -> None:
    for t in transactions_100k:
        mode = t["payment_mode"]
        assert t["card_type"] == CARD_MODES.get(mode), t
        is_card = mode in CARD_MODES
        assert (t["card_network"] is not None) == is_card, t
        assert (t["masked_pan"] is not None) == is_card, t
        if is_card:
            assert t["masked_pan"].startswith(t["card_bin"])
            assert len(t["masked_pan"]) == (15 if t["card_network"] == "AMEX" else 16)
            assert t["entry_mode"] in {"CHIP", "CONTACTLESS", "SWIPE", "CNP"}
        assert (t["payer_vpa"] is not None) == (mode == "UPI"), t
        if mode == "UPI":
            assert t["entry_mode"] in {"UPI_INTENT", "UPI_COLLECT", "QR_SCAN"}
        if t["channel"] == "POS":
            assert t["entry_mode"] in {"CHIP", "CONTACTLESS", "SWIPE"} and t["terminal_id"] is not None
        if t["transaction_type"] == "P2P_TRANSFER":
            assert t["merchant_id"] is None and t["payee_vpa"] is not None and mode == "UPI"
        else:
            assert t["merchant_category"] is not None and t["mcc"] is not None
        assert (t["status"] == "DECLINED") == (t["decline_reason"] is not None) == (t["response_code"] != "00")


def test_per_customer_event_times_strictly_increase(transactions_100k: list[dict[str, Any]]) -> None:
    times = [t["event_time"] for t in transactions_100k]
    assert times == sorted(times)
    by_customer: dict[str, list[int]] = defaultdict(list)
    for t in transactions_100k:
        by_customer[t["customer_id"]].append(t["event_time"])
    for customer, series in by_customer.items():
        assert all(b > a for a, b in itertools.pairwise(series)), customer


def test_ids_are_unique(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]],
                        transactions_100k: list[dict[str, Any]]) -> None:
    ids = [t["transaction_id"] for t in transactions_100k]
    assert len(set(ids)) == len(ids)
    merchants = stream_100k[0].world.merchants
    assert len(set(merchants.ids)) == len(merchants.ids) == 1_000
    customers = stream_100k[0].world.customers
    assert len(set(customers.ids)) == len(customers.ids) == 5_000
    assert len(set(customers.device_ids)) == len(customers.device_ids)


def test_no_field_is_constant_except_currency(transactions_100k: list[dict[str, Any]]) -> None:
    constant = {name for name in transactions_100k[0]
                if len({repr(t[name]) for t in transactions_100k[:: 7]}) == 1}
    assert constant == {"currency"}


def test_realistic_mixes(transactions_100k: list[dict[str, Any]]) -> None:
    n = len(transactions_100k)
    modes = Counter(t["payment_mode"] for t in transactions_100k)
    types = Counter(t["transaction_type"] for t in transactions_100k)
    declined = sum(t["status"] == "DECLINED" for t in transactions_100k) / n
    # UPI ~84% of retail digital payment volume (RBI/NPCI 2024-25); P2P ~38% of UPI
    assert 0.74 < modes["UPI"] / n < 0.90
    assert 0.22 < types["P2P_TRANSFER"] / n < 0.36
    assert 0.05 < declined < 0.08  # UPI declines 7.4% (NPCI, Aug 2025), the other modes 2-3%
    upi_p2m = [t["amount_paise"] / 100 for t in transactions_100k
               if t["payment_mode"] == "UPI" and t["transaction_type"] == "PURCHASE"]
    assert 400 < float(np.mean(upi_p2m)) < 1_100  # Worldline 2024: UPI P2M average ticket ~INR 635


def test_records_validate_and_round_trip(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]]) -> None:
    _, transactions, labels = stream_100k
    schema, label_schema = load_schema("transaction"), load_schema("label")
    for data in transactions[::5]:
        record = decode(data)
        assert fastavro.validation.validate(record, schema, raise_errors=True)
        assert encode("transaction", record) == data
    revisions = 0
    for data in labels[::5]:
        record = decode(data)
        assert fastavro.validation.validate(record, label_schema, raise_errors=True)
        assert encode("label", record) == data
        revisions += record["revision"] == 1
    assert len(labels) > len(transactions) and revisions > 20  # revision labels validate too


def test_population_records_validate(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]]) -> None:
    world = stream_100k[0].world
    for schema_name, population in (("customer", world.customers), ("merchant", world.merchants)):
        schema = load_schema(schema_name)
        for k in range(0, len(population), 37):
            record = population.record(k, 1_700_000_000_000_000)
            assert fastavro.validation.validate(record, schema, raise_errors=True)
            assert decode(encode(schema_name, record)) == record
