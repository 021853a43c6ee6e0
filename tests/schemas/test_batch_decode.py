"""BatchDecoder: every row it calls ok decodes exactly as schemas.codec does; every other row is one the
codec rejects (or that the codec must decide), never a silently wrong value."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import (
    CONFLUENT_MAGIC,
    Codec,
    CodecError,
    decode,
    encode,
    load_raw_schema,
    single_object_prefix,
)

STRINGS = ["", "Mumbai", "Zoë Kumar", "₹ 1,499", "मुंबई", "🙂 ok", "x" * 300, "y" * 700, "UPI/okaxis@paytm"]
LONG_EDGES = [0, -1, 1, 63, -64, 64, 127, 128, 2**31 - 1, -(2**31), 2**53, 2**62, -(2**62), 2**63 - 1, -(2**63)]
INT_EDGES = [0, -1, 1, 63, 64, 127, 128, 2**31 - 1, -(2**31)]
DOUBLE_EDGES = [0.0, -0.0, 1.5, -2.25e300, 5e-324, math.inf, -math.inf, math.nan]
HOT_SCHEMAS = ["transaction", "label", "scored_transaction"]


def _random_value(type_: Any, named: dict[str, Any], rng: random.Random) -> Any:
    if isinstance(type_, str) and type_ in named:
        type_ = named[type_]
    if isinstance(type_, list):
        branch = next(b for b in type_ if b != "null")
        return None if rng.random() < 0.3 else _random_value(branch, named, rng)
    if isinstance(type_, dict):
        kind = type_["type"]
        if kind == "record":
            return {f["name"]: _random_value(f["type"], named, rng) for f in type_["fields"]}
        if kind == "enum":
            return rng.choice(type_["symbols"])
        type_ = kind
    if type_ == "long":
        return rng.choice(LONG_EDGES) if rng.random() < 0.3 else rng.randint(-(2**62), 2**62)
    if type_ == "int":
        return rng.choice(INT_EDGES) if rng.random() < 0.3 else rng.randint(-(2**31), 2**31 - 1)
    if type_ == "double":
        return rng.choice(DOUBLE_EDGES) if rng.random() < 0.3 else rng.uniform(-1e6, 1e6)
    if type_ == "boolean":
        return rng.random() < 0.5
    if type_ == "string":
        return rng.choice(STRINGS)
    raise AssertionError(f"unexpected type {type_!r}")


def random_records(name: str, n: int, seed: int = 1) -> list[dict[str, Any]]:
    schema = load_raw_schema(name)
    rng = random.Random(seed)
    return [_random_value(schema, schema["__named_schemas"], rng) for _ in range(n)]


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and -0.0 is told apart from 0.0 (the bytes differ)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", HOT_SCHEMAS)
def test_random_records_of_every_field_type_decode_like_the_codec(name: str) -> None:
    records = random_records(name, 3_000)
    values = [encode(name, r) for r in records]
    batch = BatchDecoder(name).decode(values)
    assert batch.ok.all()
    decoded = batch.records()
    assert len(decoded) == len(values)
    for got, value in zip(decoded, values, strict=True):
        assert _same(got, decode(value))


def test_the_generated_stream_decodes_like_the_codec() -> None:
    stream = TransactionStream(StreamConfig(seed=3, customers=500, merchants=100))
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(20_000))
    revisions = encoder.encode_revisions(batch)[1]
    assert revisions  # revision labels (revision 1) decode alike
    for name, values in (("transaction", encoder.encode_transactions(batch)),
                         ("label", encoder.encode_labels(batch) + revisions)):
        decoded = BatchDecoder(name).decode(values)
        assert decoded.ok.all()
        assert decoded.records() == [decode(v) for v in values]
        assert not decoded.nul_in_strings.any()
    chosen = ("event_time", "merchant_id", "latitude", "status")  # long, nullable string, double, enum
    values = encoder.encode_transactions(batch)
    subset = BatchDecoder("transaction").decode(values).records(range(5, 500), fields=chosen)
    assert subset == [{name: decode(v)[name] for name in chosen} for v in values[5:500]]
    with pytest.raises(KeyError):
        BatchDecoder("transaction").decode(values[:3]).records(fields=("no_such_field",))


def test_rows_it_declines_are_rows_the_codec_rejects() -> None:
    rng = random.Random(5)
    good = [encode("label", r) for r in random_records("label", 200, seed=2)]
    bad: list[bytes] = [
        b"", b"\xc3", b"\xc3\x01" + bytes(8) + good[0][10:],  # empty, short header, unknown fingerprint
        good[0][:-1], good[1] + b"\x00", good[2][:10],  # truncated, trailing byte, header only
        good[3][:10] + b"\xff" * 12,  # a varint that never ends
        encode("transaction", random_records("transaction", 1)[0]),  # another schema
    ]
    # a string of invalid UTF-8, the same length, so the structure still parses
    record = {**random_records("label", 1, seed=9)[0], "transaction_id": "T-abc"}
    value = encode("label", record)
    at = value.index(b"T-abc")
    bad.append(value[:at] + b"\xff\xfe\xfd" + value[at + 3:])
    for _ in range(200):  # random bit flips and garbage
        v = bytearray(rng.choice(good))
        v[rng.randrange(10, len(v))] ^= 1 << rng.randrange(8)
        bad.append(bytes(v))
        bad.append(single_object_prefix("label") + rng.randbytes(rng.randint(0, 80)))
    batch = BatchDecoder("label").decode(good + bad)
    assert batch.ok[: len(good)].all()
    declined = 0
    for i, value in enumerate(bad, start=len(good)):
        try:
            name, expected = Codec().decode_with_name(value)
        except CodecError:
            assert not batch.ok[i], value
            declined += 1
            continue
        if batch.ok[i]:  # a flip that still makes a valid label must decode exactly like the codec
            assert name == "label" and _same(batch.records([i])[0], expected)
    assert declined >= 9


def test_nul_in_a_string_is_flagged_for_the_sink() -> None:
    records = random_records("label", 4, seed=3)
    records[2]["transaction_id"] = "T\x00bad"
    records[3]["anomaly_type"] = "z" * 600 + "\x00"  # past the vectorised window: checked by Python
    batch = BatchDecoder("label").decode([encode("label", r) for r in records])
    assert batch.ok.all()
    assert batch.nul_in_strings.tolist() == [False, False, True, True]


def test_confluent_framing_is_accepted_when_its_prefix_is_given() -> None:
    codec = Codec({"label": 42})
    record = random_records("label", 1)[0]
    framed = codec.encode("label", record)
    assert framed.startswith(CONFLUENT_MAGIC)
    assert not BatchDecoder("label").decode([framed]).ok[0]
    batch = BatchDecoder("label", prefixes=[single_object_prefix("label"), codec.prefix("label")]).decode(
        [framed, encode("label", record)])
    assert batch.ok.all()
    assert _same(batch.records([0])[0], record) and _same(batch.records([1])[0], record)


def test_empty_batch_and_unsupported_schemas() -> None:
    batch = BatchDecoder("transaction").decode([])
    assert len(batch) == 0 and batch.records() == []
    for name in ("customer", "merchant", "alert"):  # arrays: the per-record path
        with pytest.raises(TypeError):
            BatchDecoder(name)
    assert np.array_equal(BatchDecoder("label").decode([b"junk"]).ok, [False])
