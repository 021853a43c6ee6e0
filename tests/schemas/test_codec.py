"""The Avro schemas and the one codec: parsing, framing, fingerprints, round trips and decode errors."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from fastavro.validation import validate

from synfinance.schemas.codec import (
    Codec,
    CodecError,
    Framing,
    decode,
    decode_with_name,
    encode,
    fingerprint,
    load_schema,
    schema_names,
    single_object_prefix,
)

T0 = 1_732_352_400_123_456  # 2024-11-23 09:00:00.123456 UTC, in microseconds


def _transaction_card_pos() -> dict[str, Any]:
    return {
        "transaction_id": "TXN-20241123-000000000017", "event_time": T0, "customer_id": "CUST00012345",
        "merchant_id": "MER0004711", "payee_vpa": None, "amount_paise": 349_900, "currency": "INR",
        "payment_mode": "CREDIT_CARD", "card_network": "RUPAY", "card_type": "CREDIT", "card_bin": "608001",
        "masked_pan": "6080 01XX XXXX 4321", "payer_vpa": None, "instrument_id": "INS-CC-0012345-1",
        "issuer_bank": "State Bank of India", "channel": "POS", "entry_mode": "CONTACTLESS",
        "transaction_type": "PURCHASE", "merchant_category": "Grocery", "mcc": "5411", "city": "Bengaluru",
        "state": "Karnataka", "region": "South", "city_tier": 1, "latitude": 12.9716, "longitude": 77.5946,
        "device_id": None, "terminal_id": "TID00471101", "ip_address": None, "status": "APPROVED",
        "decline_reason": None, "response_code": "00", "original_transaction_id": None,
    }


def _transaction_upi_p2p() -> dict[str, Any]:
    return {
        **_transaction_card_pos(),
        "transaction_id": "TXN-20241123-000000000018", "merchant_id": None, "payee_vpa": "zoë.kumar@oksbi",
        "amount_paise": 0, "payment_mode": "UPI", "card_network": None, "card_type": None, "card_bin": None,
        "masked_pan": None, "payer_vpa": "ravi.k@okhdfcbank", "instrument_id": "INS-UPI-0012345-1",
        "channel": "IN_APP", "entry_mode": "UPI_INTENT", "transaction_type": "P2P_TRANSFER",
        "merchant_category": None, "mcc": None, "city": "Guwahati", "state": "Assam", "region": "Northeast",
        "city_tier": 2, "latitude": 26.1445, "longitude": 91.7362, "device_id": "DEV-a81f-77c2",
        "terminal_id": None, "ip_address": "2401:4900:1c3a::17", "status": "DECLINED",
        "decline_reason": "Insufficient funds (₹ balance low)", "response_code": "51",
    }


RECORDS: dict[str, dict[str, Any]] = {
    "transaction": _transaction_card_pos(),
    "label": {
        "transaction_id": "TXN-20241123-000000000017", "customer_id": "CUST00012345", "event_time": T0,
        "is_fraud": True, "fraud_type": "card_testing", "scenario_id": "SCN-000042", "is_anomaly": False,
        "anomaly_type": None, "severity": 0.0, "label_time": T0 + 3 * 86_400_000_000, "revision": 0,
    },
    "customer": {
        "customer_id": "CUST00012345", "name": "Zoë Kumar", "age": 34, "gender": "FEMALE",
        "occupation": "Software engineer", "segment": "young_professional",
        "monthly_income_paise": 18_500_000,
        "home_city": "Bengaluru", "home_state": "Karnataka", "home_region": "South", "home_city_tier": 1,
        "home_latitude": 12.9716, "home_longitude": 77.5946,
        "devices": [{"device_id": "DEV-a81f-77c2", "os": "Android", "app": "PhonePe"}],
        "instruments": [
            {"instrument_id": "INS-UPI-0012345-1", "payment_mode": "UPI", "card_network": None,
             "card_type": None, "card_bin": None, "masked_pan": None, "vpa": "zoë.kumar@oksbi",
             "issuer_bank": "State Bank of India"},
            {"instrument_id": "INS-CC-0012345-1", "payment_mode": "CREDIT_CARD", "card_network": "RUPAY",
             "card_type": "CREDIT", "card_bin": "608001", "masked_pan": "6080 01XX XXXX 4321", "vpa": None,
             "issuer_bank": "HDFC Bank"},
        ],
        "monthly_txn_rate": 42.5, "amount_scale": 1.3, "active_hours": [8, 9, 13, 19, 20, 21, 22],
        "travel_propensity": 0.08, "credit_score_band": "750-900", "account_open_date": 16_071,
        "updated_at": T0,
    },
    "merchant": {
        "merchant_id": "MER0004711", "name": "Chai Point ₹ Café", "category": "Restaurants",
        "subcategory": "Cafe", "mcc": "5814", "city": "Pune", "state": "Maharashtra", "region": "West",
        "city_tier": 1, "latitude": 18.5204, "longitude": 73.8567, "is_online": False, "is_chain": True,
        "acquirer_bank": "Axis Bank", "risk_tier": "LOW", "terminal_ids": ["TID00471101", "TID00471102"],
        "vpa": "chaipoint.pune@axisbank", "updated_at": T0,
    },
    "scored_transaction": {
        "transaction_id": "TXN-20241123-000000000017", "customer_id": "CUST00012345", "event_time": T0,
        "amount_paise": 349_900,
        "features": {
            "txn_count_5m": 4, "txn_count_1h": 9, "txn_count_24h": 15, "amount_sum_1h_paise": 1_204_500,
            "amount_sum_24h_paise": 2_990_000, "amount_zscore": 3.71, "distinct_merchants_1h": 6,
            "distinct_devices_24h": 1, "distinct_cities_24h": 2, "seconds_since_prev": None,
            "km_from_prev": None, "speed_kmh_from_prev": None, "km_from_home": 841.2, "is_new_device": False,
            "is_new_merchant": True, "declines_1h": 3, "small_txns_1h": 5, "hour_of_day": 14,
            "is_night": False, "is_weekend": True, "merchant_fraud_rate": 0.0125,
        },
        "score": 0.934, "model_version": "hoeffding-2024.11.23-r3", "processed_at": T0 + 41_500,
        "processing_latency_ms": 41.5,
    },
    "alert": {
        "alert_id": "ALR-000000123", "transaction_id": "TXN-20241123-000000000017",
        "customer_id": "CUST00012345", "event_time": T0, "score": 0.934, "threshold": 0.8,
        "model_version": "hoeffding-2024.11.23-r3",
        "reasons": ["5 small payments in 1h (≤ ₹100)", "new merchant", "841 km from home"],
        "created_at": T0 + 42_000,
    },
    "decision": {
        "transaction_id": "TXN-20241123-000000000017", "score": 0.934, "decision": "decline",
        "decided_at": T0 + 42_000,
    },
    "run_info": {
        "stream_id": "XZVAN9", "seed": 42, "generator_version": 5, "customers": 10_000, "merchants": 2_000,
        "start": "2025-10-01T00:00:00+05:30", "fraud_rate": 0.02, "anomaly_rate": 0.02, "label_delay": "default",
        "time_mode": "simulated", "header_set": "lean", "headers": ["synfin-seq", "traceparent"],
        "topics": [{"topic": "synfin.transactions.v1", "schema": "in.synfinance.Transaction",
                    "fingerprint": "9bb6d1b158fcfb5e", "schema_id": None},
                   {"topic": "synfin.labels.v1", "schema": "in.synfinance.Label", "fingerprint": "d3b18752de4d9140",
                    "schema_id": 7}],
    },
}
EXTRA_RECORDS = [("transaction", _transaction_upi_p2p())]
ALL_RECORDS = [*RECORDS.items(), *EXTRA_RECORDS]
CONFLUENT_IDS = {name: 100 + i for i, name in enumerate(sorted(RECORDS))}


def test_schema_names_are_the_eight_avsc_files() -> None:
    assert schema_names() == sorted(RECORDS)


def _docs_missing(node: Any, path: str) -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum") and not node.get("doc"):
            missing.append(path)
        for field in node.get("fields", []):
            if not field.get("doc"):
                missing.append(f"{path}.{field['name']}")
            missing += _docs_missing(field["type"], f"{path}.{field['name']}")
        missing += _docs_missing(node.get("items"), path)
    elif isinstance(node, list):
        for branch in node:
            missing += _docs_missing(branch, path)
    return missing


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_schema_parses_in_namespace_with_docs(name: str) -> None:
    schema = load_schema(name)
    assert schema["name"].startswith("in.synfinance.")
    assert load_schema(name) is schema  # parsed once
    assert _docs_missing(schema, name) == []


@pytest.mark.parametrize(("name", "record"), ALL_RECORDS)
def test_realistic_record_is_valid(name: str, record: dict[str, Any]) -> None:
    assert validate(record, load_schema(name))
    assert list(record) == [f["name"] for f in load_schema(name)["fields"]]


@pytest.mark.parametrize(("name", "record"), ALL_RECORDS)
def test_single_object_round_trip_is_byte_identical(name: str, record: dict[str, Any]) -> None:
    data = encode(name, record)
    assert data[:10] == b"\xc3\x01" + fingerprint(name)
    assert decode(data) == record
    assert decode_with_name(data) == (name, record)
    assert encode(name, decode(data)) == data


@pytest.mark.parametrize(("name", "record"), ALL_RECORDS)
def test_confluent_round_trip_is_byte_identical(name: str, record: dict[str, Any]) -> None:
    codec = Codec(CONFLUENT_IDS)
    assert codec.framing is Framing.CONFLUENT
    data = codec.encode(name, record)
    assert data[:5] == b"\x00" + struct.pack(">I", CONFLUENT_IDS[name])
    assert data[5:] == encode(name, record)[10:]  # same Avro body, other framing
    assert codec.decode_with_name(data) == (name, record)
    assert codec.encode(name, codec.decode(data)) == data
    assert codec.decode(encode(name, record)) == record  # still reads single-object values


def test_timestamps_and_dates_decode_as_ints_and_encode_from_datetimes() -> None:
    customer = decode(encode("customer", RECORDS["customer"]))
    assert type(customer["updated_at"]) is int and type(customer["account_open_date"]) is int
    as_datetime = dict(RECORDS["alert"], event_time=datetime.fromtimestamp(T0 / 1e6, tz=UTC).replace(
        microsecond=T0 % 1_000_000))
    assert encode("alert", as_datetime) == encode("alert", RECORDS["alert"])


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as written in the Avro specification ("Schema Fingerprints")."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_crc64_reference_matches_avro_test_vector() -> None:
    assert _crc64_avro(b'"null"') == 7195948357588979594  # share/test/data/schema-tests.txt


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_fingerprint_is_little_endian_crc64_of_canonical_form(name: str) -> None:
    canonical = to_parsing_canonical_form(load_schema(name))
    fp = fingerprint(name)
    assert len(fp) == 8
    assert fp == struct.pack("<Q", _crc64_avro(canonical.encode()))
    assert fp.hex() == fastavro_fingerprint(canonical, "CRC-64-AVRO")
    assert single_object_prefix(name) == Codec().prefix(name) == b"\xc3\x01" + fp


def test_fingerprints_are_distinct() -> None:
    assert len({fingerprint(name) for name in schema_names()}) == len(schema_names())


def _body(name: str = "label") -> bytes:
    return encode(name, RECORDS[name])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b'{"transaction_id": "T1"}', "unknown magic"),
        (b"\xc3\x02" + _body()[2:], "unknown magic"),
        (b"\xc3\x01" + b"\x00" * 8 + _body()[10:], "unknown schema fingerprint"),
        (_body()[:7], "truncated single-object header"),
        (b"\x00\x00\x00", "truncated Confluent header"),
        (b"\x00\x00\x00\x00\x65" + _body()[10:], "unknown Confluent schema id 101"),
        (_body() + b"\x00", "trailing bytes"),
    ],
)
def test_undecodable_values_raise_codec_error(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        decode(data)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("name", "record"), ALL_RECORDS)
def test_every_truncation_raises_codec_error(name: str, record: dict[str, Any]) -> None:
    codec = Codec(CONFLUENT_IDS)
    for data in (encode(name, record), codec.encode(name, record)):
        for cut in range(len(data)):
            with pytest.raises(CodecError):
                codec.decode(data[:cut])


def test_decoding_is_plain_fastavro_underneath() -> None:
    data = _body("transaction")
    raw = fastavro.schemaless_reader(io.BytesIO(data[10:]), load_schema("transaction"))
    assert raw["event_time"] == datetime.fromtimestamp(T0 // 1_000_000, tz=UTC).replace(
        microsecond=T0 % 1_000_000)  # what fastavro returns without our raw schema
    assert decode(data)["event_time"] == T0


@pytest.mark.parametrize(
    ("ids", "message"),
    [({"nope": 1}, "unknown schema"), ({"label": 1, "alert": 1}, "same id"), ({"label": -1}, "not in")],
)
def test_bad_confluent_ids_are_rejected(ids: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Codec(ids)


def test_confluent_codec_needs_an_id_to_encode() -> None:
    with pytest.raises(KeyError, match="no confluent schema id"):
        Codec({"label": 3}).encode("alert", RECORDS["alert"])
