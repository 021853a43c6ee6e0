"""Fast readers for the few fields the merchant-risk replica needs from every transaction and label.

Each worker keeps a replica of merchant risk over *all* partitions (see `processors.risk`), so it reads
every transaction and label of the topic, not just its own share. A full fastavro decode costs ~10 µs a
record; these read only the leading fields of the Avro body (the schemas' field order is fixed and
evolution appends fields, so the prefix stays put) in ~1-2 µs, after either framing header (single-object,
or Confluent with an id the codec's resolver names). Any other value goes through the shared codec
instead, which stays the one authority and raises `CodecError` for anything undecodable. The worker reads
its own partitions' records in whole batches instead (`decode_rows`: column-wise, the codec deciding what
that declines).

>>> from synfinance.schemas.codec import encode
>>> label = {"transaction_id": "T1", "customer_id": "C1", "event_time": 5, "is_fraud": True,
...          "fraud_type": "card_testing", "scenario_id": None, "is_anomaly": False,
...          "anomaly_type": None, "severity": 0.0, "label_time": 9, "revision": 1}
>>> read_label(encode("label", label))
LabelFacts(transaction_id='T1', customer_id='C1', event_time=5, is_fraud=True, label_time=9, revision=1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import (
    CONFLUENT_HEADER_LEN,
    CONFLUENT_MAGIC,
    CodecError,
    confluent_schema_name,
    decode_with_name,
    single_object_prefix,
)

_TRANSACTION_PREFIX = single_object_prefix("transaction")
_LABEL_PREFIX = single_object_prefix("label")
_HEADER = len(_TRANSACTION_PREFIX)


class TransactionFacts(NamedTuple):
    """What merchant risk needs of a transaction."""

    transaction_id: str
    event_time: int
    customer_id: str
    merchant_id: str | None


class LabelFacts(NamedTuple):
    """What merchant risk and learning need of a label; of two labels of one transaction, the one with the
    higher `revision` is the truth (0: the first verdict)."""

    transaction_id: str
    customer_id: str
    event_time: int
    is_fraud: bool
    label_time: int
    revision: int = 0


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """Avro long (zigzag varint) at `pos`: (value, next position)."""
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _string(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = _long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise IndexError("string runs past the end of the value")
    return data[pos:end].decode(), end


def _skip_optional_string(data: bytes, pos: int) -> int:
    branch, pos = _long(data, pos)
    if branch:
        size, pos = _long(data, pos)
        pos += size
    return pos


NULL_VALUE = "a null value (a tombstone) where a record belongs"
NULL_KEY = "a null key where the customer id belongs"


def _body_start(value: bytes, prefix: bytes, name: str) -> int:
    """Where the Avro body of a `name` value starts after its framing header; 0 if not framed as one."""
    if value[:_HEADER] == prefix:
        return _HEADER
    confluent = value[:1] == CONFLUENT_MAGIC and len(value) >= CONFLUENT_HEADER_LEN
    if confluent and confluent_schema_name(int.from_bytes(value[1:CONFLUENT_HEADER_LEN], "big")) == name:
        return CONFLUENT_HEADER_LEN
    return 0


def read_transaction(value: bytes | None) -> TransactionFacts:
    """transaction_id, event_time, customer_id and merchant_id of a Transaction value."""
    if value is None:
        raise CodecError(NULL_VALUE)
    body = _body_start(value, _TRANSACTION_PREFIX, "transaction")
    if body:
        try:
            txn_id, pos = _string(value, body)
            event_time, pos = _long(value, pos)
            customer_id, pos = _string(value, pos)
            branch, pos = _long(value, pos)
            merchant_id = _string(value, pos)[0] if branch == 1 else None
            if branch in (0, 1):
                return TransactionFacts(txn_id, event_time, customer_id, merchant_id)
        except (IndexError, UnicodeDecodeError):
            pass  # corrupt: let the codec say exactly what is wrong
    record = decode_as(value, "transaction")
    return TransactionFacts(record["transaction_id"], record["event_time"], record["customer_id"],
                            record["merchant_id"])


def read_label(value: bytes | None) -> LabelFacts:
    """transaction_id, customer_id, event_time, is_fraud, label_time and revision of a Label value."""
    if value is None:
        raise CodecError(NULL_VALUE)
    body = _body_start(value, _LABEL_PREFIX, "label")
    if body:
        try:
            txn_id, pos = _string(value, body)
            customer_id, pos = _string(value, pos)
            event_time, pos = _long(value, pos)
            is_fraud = value[pos]
            pos = _skip_optional_string(value, pos + 1)  # fraud_type
            pos = _skip_optional_string(value, pos)  # scenario_id
            pos = _skip_optional_string(value, pos + 1)  # is_anomaly, anomaly_type
            label_time, pos = _long(value, pos + 8)  # after severity (double)
            revision, end = _long(value, pos)  # an Avro int: the same zigzag varint as a long
            if is_fraud in (0, 1) and end == len(value) and -(2**31) <= revision < 2**31:
                return LabelFacts(txn_id, customer_id, event_time, bool(is_fraud), label_time, revision)
        except (IndexError, UnicodeDecodeError):
            pass
    record = decode_as(value, "label")
    return LabelFacts(record["transaction_id"], record["customer_id"], record["event_time"], record["is_fraud"],
                      record["label_time"], record["revision"])


def decode_as(value: bytes, expected: str) -> dict[str, Any]:
    """The codec's record of `value`; `CodecError` if it is undecodable or of another schema."""
    name, record = decode_with_name(value)
    if name != expected:
        raise CodecError(f"expected a {expected} value, got a {name}")
    return record


def decode_rows(decoder: BatchDecoder, values: Sequence[bytes],
                fields: Sequence[str]) -> list[dict[str, Any] | CodecError]:
    """`fields` of each value, decoded column-wise in one pass; a value the column-wise decoder declines
    goes to the codec, the one authority, which gives its record or the `CodecError` saying why."""
    decoded = decoder.decode(values)
    ok = decoded.ok.tolist()
    good = iter(decoded.records([i for i, fine in enumerate(ok) if fine], fields=fields))
    rows: list[dict[str, Any] | CodecError] = []
    for value, fine in zip(values, ok, strict=True):
        if fine:
            rows.append(next(good))
            continue
        try:
            record = decode_as(value, decoder.schema_name)
        except CodecError as exc:
            rows.append(exc)
            continue
        rows.append({name: record[name] for name in fields})
    return rows
