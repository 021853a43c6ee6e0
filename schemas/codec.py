"""The one Avro codec: loads schemas/*.avsc, frames and unframes every value on every topic.

Two framings (SPEC section 2), both recognised by ``decode`` from the bytes alone:

* Avro single-object encoding (default): ``C3 01`` + 8-byte CRC-64-AVRO fingerprint of the schema's
  Parsing Canonical Form (little-endian, as the Avro spec requires) + Avro binary body.
* Confluent wire format (when a schema registry is configured): ``00`` + 4-byte big-endian schema id
  + body. Ids come from the registry (`synfinance.schemas.registry`): a writer's `Codec` takes its
  ``name -> id`` mapping; readers name an id they have not seen through the resolver installed by
  ``resolve_confluent_ids`` (once per id: the registry's schema is matched to ours by fingerprint).

Decoded records are plain dicts holding raw Avro values: timestamp-micros fields come back as ``int``
microseconds and date fields as ``int`` days (fastavro would return ``datetime``/``date``, which neither
round-trips byte for byte nor survives numpy), enums as their symbol ``str``, nullable unions as the
value or ``None``. ``encode(name, decode(data)) == data`` for every valid ``data``.

>>> from synfinance.schemas.codec import decode, encode
>>> rec = {"alert_id": "a-1", "transaction_id": "t-1", "customer_id": "C1", "event_time": 1,
...        "score": 0.97, "threshold": 0.9, "model_version": "m1", "reasons": ["velocity"],
...        "created_at": 2}
>>> data = encode("alert", rec)
>>> data[:2], len(data[2:10])
(b'\\xc3\\x01', 8)
>>> decode(data) == rec
True
"""

from __future__ import annotations

import enum
import io
import json
import struct
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "CONFLUENT_HEADER_LEN",
    "CONFLUENT_MAGIC",
    "SCHEMA_DIR",
    "SINGLE_OBJECT_MAGIC",
    "Codec",
    "CodecError",
    "Framing",
    "confluent_schema_name",
    "decode",
    "decode_with_name",
    "encode",
    "fingerprint",
    "load_raw_schema",
    "load_schema",
    "name_of_schema",
    "resolve_confluent_ids",
    "schema_names",
    "single_object_prefix",
]

SCHEMA_DIR = Path(__file__).resolve().parent
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_SINGLE_OBJECT_HEADER_LEN = len(SINGLE_OBJECT_MAGIC) + 8
CONFLUENT_HEADER_LEN = len(CONFLUENT_MAGIC) + 4  # 00 + 4-byte big-endian schema id
_MAX_CONFLUENT_ID = 2**31 - 1  # the registry's ids are Java ints


class CodecError(ValueError):
    """Bytes that are not a value this codec can decode (the sink sends them to the dead-letter topic)."""


class Framing(enum.Enum):
    """How an Avro body is framed on the wire."""

    SINGLE_OBJECT = "single-object"
    CONFLUENT = "confluent"


def schema_names() -> list[str]:
    """Names of all schemas, i.e. the ``.avsc`` file stems in ``SCHEMA_DIR``, sorted."""
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc"))


@cache
def _schema_json(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.is_file():
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(schema_names())}")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def schema_json(name: str) -> dict[str, Any]:
    """The .avsc file ``name`` as JSON (for writers that embed the schema, e.g. Avro container files)."""
    return _schema_json(name)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name`` (with logical types), parsed once and cached. Used for encoding."""
    return _parsed_record(name, _schema_json(name))


def _strip_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical_types(v) for v in node]
    return node


@cache
def load_raw_schema(name: str) -> dict[str, Any]:
    """Schema ``name`` without logical types: fastavro then reads timestamps/dates as plain ints.

    Same binary encoding and same fingerprint as ``load_schema(name)``.
    """
    return _parsed_record(name, _strip_logical_types(_schema_json(name)))


def _parsed_record(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    # fastavro parses any schema (a name, a union list, a record dict); ours are all records
    parsed = fastavro.parse_schema(schema)
    if not isinstance(parsed, dict):
        raise TypeError(f"schema {name} is not a record schema")
    return parsed


@cache
def fingerprint(name: str) -> bytes:
    """8-byte CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, little-endian.

    fastavro's hex digest already lists the bytes in little-endian order, which is the order the
    single-object header carries them in.
    """
    canonical = to_parsing_canonical_form(load_schema(name))
    return bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))


def single_object_prefix(name: str) -> bytes:
    """The 10-byte single-object header for schema ``name``: ``C3 01`` + fingerprint."""
    return SINGLE_OBJECT_MAGIC + fingerprint(name)


@cache
def _names_by_fingerprint() -> dict[bytes, str]:
    table: dict[bytes, str] = {}
    for name in schema_names():
        fp = fingerprint(name)
        if fp in table:  # two .avsc files with the same canonical form would be undecodable
            raise RuntimeError(f"schemas {table[fp]!r} and {name!r} share fingerprint {fp.hex()}")
        table[fp] = name
    return table


def name_of_schema(schema_text: str) -> str | None:
    """Which of our schemas `schema_text` (Avro JSON, e.g. from a registry) is: same canonical form."""
    try:
        parsed = fastavro.parse_schema(json.loads(schema_text))
        fp = bytes.fromhex(_fastavro_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    except Exception:  # not Avro, or not a schema fastavro can parse: not one of ours
        return None
    return _names_by_fingerprint().get(fp)


_confluent_names: dict[int, str | None] = {}
_confluent_resolver: Callable[[int], str | None] | None = None


def resolve_confluent_ids(resolver: Callable[[int], str | None] | None) -> None:
    """Install how this process names a Confluent schema id it has not seen (None: forget resolver and ids).

    The resolver is asked once per id; its answer (a schema name, or None for "not ours") is kept."""
    global _confluent_resolver
    _confluent_resolver = resolver
    _confluent_names.clear()


def confluent_schema_name(schema_id: int) -> str | None:
    """The schema a Confluent id stands for, through the installed resolver (None: unknown)."""
    if schema_id in _confluent_names:
        return _confluent_names[schema_id]
    if _confluent_resolver is None:
        return None
    name = _confluent_resolver(schema_id)
    _confluent_names[schema_id] = name
    return name


def _write_body(name: str, record: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, load_schema(name), record)
    return buf.getvalue()


class Codec:
    """Encoder/decoder holding the framing configuration.

    Without ``confluent_ids`` values are written with single-object framing; with them (schema name ->
    registry id, one per schema that is written) they are written in Confluent wire format. Decoding
    accepts both framings either way; Confluent ids are resolved through ``confluent_ids``.
    """

    def __init__(self, confluent_ids: Mapping[str, int] | None = None) -> None:
        ids = dict(confluent_ids or {})
        known = set(schema_names())
        for name, schema_id in ids.items():
            if name not in known:
                raise ValueError(f"confluent_ids names unknown schema {name!r}")
            if not 0 <= schema_id <= _MAX_CONFLUENT_ID:
                raise ValueError(f"confluent id {schema_id} for {name!r} is not in 0..{_MAX_CONFLUENT_ID}")
        by_id = {schema_id: name for name, schema_id in ids.items()}
        if len(by_id) != len(ids):
            raise ValueError("confluent_ids maps two schemas to the same id")
        self.framing = Framing.CONFLUENT if ids else Framing.SINGLE_OBJECT
        self._confluent_ids = ids
        self._names_by_confluent_id = by_id

    def confluent_id(self, name: str) -> int | None:
        """The registry id this codec writes `name` with (None: single-object framing)."""
        return self._confluent_ids.get(name)

    def prefix(self, name: str) -> bytes:
        """The framing header written before every ``name`` body (also what ``BatchEncoder`` takes)."""
        if self.framing is Framing.SINGLE_OBJECT:
            return single_object_prefix(name)
        try:
            schema_id = self._confluent_ids[name]
        except KeyError:
            raise KeyError(f"no confluent schema id configured for {name!r}") from None
        return CONFLUENT_MAGIC + struct.pack(">I", schema_id)

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Frame and encode ``record`` (timestamps as int micros or aware datetimes, dates as int days)."""
        return self.prefix(name) + _write_body(name, record)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a framed value; raise ``CodecError`` if it is not one."""
        return self.decode_with_name(data)[1]

    def decode_with_name(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode a framed value and say which schema it was written with."""
        name, header_len = self._identify(data)
        buf = io.BytesIO(data)
        buf.seek(header_len)
        try:
            record = fastavro.schemaless_reader(buf, load_raw_schema(name), return_record_name=False)
        except Exception as exc:  # fastavro raises EOFError, UnicodeDecodeError, IndexError, ...
            detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            raise CodecError(f"corrupt or truncated {name} body ({len(data)} bytes): {detail}") from exc
        if buf.tell() != len(data):
            raise CodecError(f"{len(data) - buf.tell()} trailing bytes after a {name} body")
        if not isinstance(record, dict):
            raise CodecError(f"{name} body did not decode to a record")
        return name, record

    def _identify(self, data: bytes) -> tuple[str, int]:
        if not data:
            raise CodecError("empty value: no framing header")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < _SINGLE_OBJECT_HEADER_LEN:
                raise CodecError(f"truncated single-object header ({len(data)} of 10 bytes)")
            fp = bytes(data[2:_SINGLE_OBJECT_HEADER_LEN])
            name = _names_by_fingerprint().get(fp)
            if name is None:
                raise CodecError(f"unknown schema fingerprint {fp.hex()} in single-object header")
            return name, _SINGLE_OBJECT_HEADER_LEN
        if data[:1] == CONFLUENT_MAGIC:
            if len(data) < CONFLUENT_HEADER_LEN:
                raise CodecError(f"truncated Confluent header ({len(data)} of 5 bytes)")
            (schema_id,) = struct.unpack(">I", data[1:CONFLUENT_HEADER_LEN])
            name = self._names_by_confluent_id.get(schema_id) or confluent_schema_name(schema_id)
            if name is None:
                raise CodecError(f"unknown Confluent schema id {schema_id}")
            return name, CONFLUENT_HEADER_LEN
        raise CodecError(
            f"unknown magic 0x{bytes(data[:2]).hex()}: neither single-object (c301) nor Confluent (00)"
        )


_DEFAULT = Codec()


def encode(name: str, record: Mapping[str, Any]) -> bytes:
    """Encode ``record`` with schema ``name`` in single-object framing."""
    return _DEFAULT.encode(name, record)


def decode(data: bytes) -> dict[str, Any]:
    """Decode a framed value (Confluent framing: ids named by the resolver, `resolve_confluent_ids`)."""
    return _DEFAULT.decode(data)


def decode_with_name(data: bytes) -> tuple[str, dict[str, Any]]:
    """Like ``decode``, also returning the schema name."""
    return _DEFAULT.decode_with_name(data)
