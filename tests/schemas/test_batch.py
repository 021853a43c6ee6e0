"""BatchEncoder: column-wise encoding must be byte-identical to the codec's per-record encoding."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from synfinance.schemas.batch import BatchEncoder, FixedStrings, Vocab
from synfinance.schemas.codec import Codec, decode, encode, load_raw_schema

STRINGS = ["", "Mumbai", "Zoë Kumar", "₹ 1,499", "मुंबई", "🙂 ok", "x" * 200, "UPI/okaxis@paytm"]
# varint length boundaries, zero, and the extremes the producer can emit
LONG_EDGES = [0, -1, 1, 63, -64, 64, 127, 128, 2**31 - 1, -(2**31), 2**53, 2**62, -(2**62), 2**63 - 1]
INT_EDGES = [0, -1, 1, 63, 64, 127, 128, 2**31 - 1, -(2**31)]
DOUBLE_EDGES = [0.0, -0.0, 1.5, -2.25e300, 5e-324, np.inf, -np.inf]


def _resolve(type_: Any, named: dict[str, Any]) -> Any:
    if isinstance(type_, str) and type_ in named:
        return named[type_]
    if isinstance(type_, dict) and type_.get("type") in ("long", "int", "boolean", "double", "string"):
        return type_["type"]
    return type_


def random_batch(
    name: str, n: int, rng: np.random.Generator
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Random columns for every field of ``name`` and the same rows as dicts, as the codec takes them."""
    schema = load_raw_schema(name)
    named = schema["__named_schemas"]
    columns: dict[str, Any] = {}
    rows: list[dict[str, Any]] = [{} for _ in range(n)]

    def fill(record: dict[str, Any], prefix: str, targets: list[dict[str, Any]]) -> None:
        for field in record["fields"]:
            key, type_ = prefix + field["name"], _resolve(field["type"], named)
            nullable = isinstance(type_, list)
            if nullable:
                type_ = _resolve(next(b for b in type_ if b != "null"), named)
            if isinstance(type_, dict) and type_["type"] == "record":
                subs: list[dict[str, Any]] = [{} for _ in targets]
                fill(type_, key + ".", subs)
                values: list[Any] = subs
            else:
                columns[key], values = _random_column(type_, nullable, n, rng)
            for target, value in zip(targets, values, strict=True):
                target[field["name"]] = value

    fill(schema, "", rows)
    return columns, rows


def _random_column(type_: Any, nullable: bool, n: int, rng: np.random.Generator) -> tuple[Any, list[Any]]:
    if type_ in ("long", "int"):
        if type_ == "long":
            column = rng.integers(-(2**62), 2**62, n, endpoint=True)
            edges = LONG_EDGES
        else:
            column = rng.integers(-(2**31), 2**31 - 1, n, endpoint=True)
            edges = INT_EDGES
        small = rng.random(n) < 0.3  # mix varint widths within the batch
        column[small] = rng.integers(-300, 300, int(small.sum()))
        column[: min(n, len(edges))] = edges[: min(n, len(edges))]
        rng.shuffle(column)
        return column, [int(v) for v in column]
    if type_ == "boolean":
        column = rng.random(n) < 0.5
        return column, [bool(v) for v in column]
    if type_ == "double":
        column = rng.normal(0, 1e6, n)
        column[: min(n, len(DOUBLE_EDGES))] = DOUBLE_EDGES[: min(n, len(DOUBLE_EDGES))]
        column[rng.random(n) < 0.25] = np.nan  # null when nullable, a NaN double otherwise
        rng.shuffle(column)
        return column, [None if nullable and np.isnan(v) else float(v) for v in column]
    if type_ == "string" and rng.random() < 0.5:
        data = np.array([f"ID{v:018d}".encode() for v in rng.integers(0, 10**18, n)], dtype="S20")
        if not nullable:
            return FixedStrings(data), [v.decode("ascii") for v in data]
        null = rng.random(n) < 0.7
        data[np.flatnonzero(null)[::2]] = b""  # a null row's data is never read: empty (all NULs) or not
        return FixedStrings(data, null), [None if blank else v.decode("ascii") for v, blank in zip(data, null,
                                                                                                   strict=True)]
    if type_ == "string":
        vocab: list[str | None] = list(rng.permutation(STRINGS))
    else:  # enum: a shuffled subset of the symbols
        symbols = list(type_["symbols"])
        vocab = list(rng.permutation(symbols)[: int(rng.integers(1, len(symbols) + 1))])
    if nullable:
        vocab.insert(int(rng.integers(0, len(vocab) + 1)), None)
    codes = rng.integers(0, len(vocab), n)
    return Vocab(codes, vocab), [vocab[c] for c in codes]


@pytest.mark.parametrize("name", ["transaction", "label", "scored_transaction"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_is_byte_identical_to_per_record_encoding(name: str, seed: int) -> None:
    columns, rows = random_batch(name, 1500, np.random.default_rng(seed))
    records = BatchEncoder(name).encode(columns, len(rows))
    assert len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        assert record == encode(name, row)


@pytest.mark.parametrize("name", ["transaction", "label", "scored_transaction"])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_batches(name: str, n: int) -> None:
    columns, rows = random_batch(name, n, np.random.default_rng(n))
    assert BatchEncoder(name).encode(columns, n) == [encode(name, row) for row in rows]


def test_confluent_prefix_and_decodes_back() -> None:
    codec = Codec({"label": 17})
    columns, rows = random_batch("label", 300, np.random.default_rng(5))
    columns["severity"] = np.linspace(0, 1, 300)  # no NaN, so decoded rows compare equal
    for i, row in enumerate(rows):
        row["severity"] = float(columns["severity"][i])
    records = BatchEncoder("label", codec.prefix("label")).encode(columns, 300)
    assert records == [codec.encode("label", row) for row in rows]
    assert [codec.decode(r) for r in records] == rows


def test_repeated_batches_reuse_and_refresh_vocabularies() -> None:
    encoder = BatchEncoder("label")
    columns, rows = random_batch("label", 200, np.random.default_rng(9))
    assert encoder.encode(columns, 200) == [encode("label", r) for r in rows]
    # the same list grown in place, and a new list for a field inside a joined run of vocabularies
    fraud_types = columns["fraud_type"].values
    fraud_types.append("account_takeover_ünïcode")
    columns["fraud_type"] = Vocab(np.full(200, len(fraud_types) - 1), fraud_types)
    columns["scenario_id"] = Vocab(np.zeros(200, dtype=np.int32), ["SCN-9"])
    for row in rows:
        row["fraud_type"], row["scenario_id"] = "account_takeover_ünïcode", "SCN-9"
    assert encoder.encode(columns, 200) == [encode("label", r) for r in rows]
    assert decode(encoder.encode(columns, 200)[0])["fraud_type"] == "account_takeover_ünïcode"


def _label_columns(n: int = 4) -> dict[str, Any]:
    return random_batch("label", n, np.random.default_rng(3))[0]


@pytest.mark.parametrize(
    ("field", "column", "error", "message"),
    [
        ("severity", Vocab(np.zeros(4, dtype=int), ["x"]), TypeError, "label.severity: Vocab"),
        ("event_time", np.zeros(4), TypeError, "label.event_time: float64 array"),
        ("is_fraud", np.zeros(4, dtype=np.int64), TypeError, "label.is_fraud: int64 array"),
        ("customer_id", ["C1"] * 4, TypeError, "label.customer_id: unsupported column type list"),
        ("event_time", FixedStrings(np.array([b"ab"] * 4)), TypeError, "label.event_time: FixedStrings"),
        ("event_time", np.zeros(3, dtype=np.int64), ValueError, "shape"),
        ("customer_id", Vocab(np.zeros(4, dtype=int), [None]), ValueError, "non-nullable"),
        ("customer_id", Vocab(np.array([0, 1, 2, 3]), ["a", "b"]), ValueError, "outside 0..1"),
        ("customer_id", Vocab(np.array([0, -1, 0, 0]), ["a", "b"]), ValueError, "outside 0..1"),
        ("customer_id", Vocab(np.zeros(4, dtype=int), [b"C1"]), TypeError, "must be str or None"),
        ("customer_id", FixedStrings(np.array([b"ab", b"ab", b"a", b"ab"])), ValueError, "exactly 2"),
        ("customer_id", FixedStrings(np.array(["é"] * 4)), TypeError, "S<k>"),
        ("customer_id", FixedStrings(np.array([b"ab"] * 4), np.zeros(4, dtype=bool)), TypeError, "nullable field"),
        ("scenario_id", FixedStrings(np.array([b"ab"] * 4), np.zeros(3, dtype=bool)), TypeError, "shape"),
        ("scenario_id", FixedStrings(np.array([b"ab", b"a", b"ab", b"ab"]), np.array([False, False, True, True])),
         ValueError, "exactly 2"),
        ("event_time", np.full(4, 2**63, dtype=np.uint64), ValueError, "long range"),
    ],
)
def test_bad_columns_name_the_field(field: str, column: Any, error: type[Exception], message: str) -> None:
    columns = _label_columns()
    columns[field] = column
    with pytest.raises(error, match=message):
        BatchEncoder("label").encode(columns, 4)


def test_bad_enum_symbol_and_int_range() -> None:
    columns, _ = random_batch("transaction", 4, np.random.default_rng(4))
    encoder = BatchEncoder("transaction")
    with pytest.raises(ValueError, match=r"transaction.channel: 'ATM' is not one of"):
        encoder.encode({**columns, "channel": Vocab(np.zeros(4, dtype=int), ["ATM"])}, 4)
    with pytest.raises(ValueError, match=r"transaction.city_tier: value outside the Avro int range"):
        encoder.encode({**columns, "city_tier": np.full(4, 2**31)}, 4)


def test_missing_and_unexpected_columns() -> None:
    columns = _label_columns()
    del columns["severity"]
    columns["sevrity"] = np.zeros(4)
    with pytest.raises(ValueError, match=r"missing \['severity'\], unexpected \['sevrity'\]"):
        BatchEncoder("label").encode(columns, 4)


@pytest.mark.parametrize(("name", "field"), [("customer", "devices"), ("alert", "reasons")])
def test_unsupported_field_types_raise_type_error(name: str, field: str) -> None:
    with pytest.raises(TypeError, match=f"{name}.{field}: array fields are not supported"):
        BatchEncoder(name)


def test_nested_record_fields_use_dotted_names() -> None:
    names = BatchEncoder("scored_transaction").field_names
    assert "features.seconds_since_prev" in names and "features" not in names
