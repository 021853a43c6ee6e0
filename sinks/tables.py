"""Which Avro record lands in which table, and how records become binary COPY rows.

A ``TableSpec`` pairs a schema (``schemas/*.avsc``) with its table (``sinks.schema``): columns are
matched to Avro fields by name (nested ``features.x`` -> column ``x``), checked when this module is
imported, so a field added to a schema without its column fails loudly instead of being dropped.

Two ways to rows, same bytes: ``rows_from_batch`` (the hot path: a column-wise decoded batch, no
Python object per field) and ``rows_from_records`` (the per-record path: dicts from
``schemas.codec``; used for the low-volume schemas with arrays, and for rows the batch decoder
declined). A column whose ``info`` names a ``header`` (``trace_id``) comes from the record's headers, not its
value: both take it as an array beside the rows (``common.trace.trace_ids``). Both also validate what Avro
allows but PostgreSQL does not store (NUL in text,
timestamps outside PostgreSQL's range, ints outside 32 bits), so such a record goes to the
dead-letter topic instead of failing a whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ARRAY, BigInteger, Boolean, Date, DateTime, Double, Integer, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from synfinance.schemas.batch_decode import BatchDecoder, DecodedBatch, FieldKind
from synfinance.schemas.codec import load_raw_schema
from synfinance.sinks import schema
from synfinance.sinks.pgcopy import (
    TIMESTAMP_MAX_US,
    TIMESTAMP_MIN_US,
    CopyRows,
    Fixed,
    PgType,
    Segments,
    encode_rows,
    int4_array_value,
    jsonb_value,
    text_array_value,
)

__all__ = ["TABLES", "ColumnSpec", "TableSpec", "invalid_rows", "record_problem", "rows_from_batch",
           "rows_from_records"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# PostgreSQL dates: 4713 BC to 5874897 AD, in days since 1970-01-01
_DATE_MIN_DAYS, _DATE_MAX_DAYS = -2_440_588, 2_145_031_948


@dataclass(frozen=True)
class ColumnSpec:
    """A table column the records supply: its name, Avro field (dotted path) and wire type; or, for
    ``header`` columns (``trace_id``), the Kafka header it is read from (then ``field`` is "")."""

    name: str
    field: str
    pg: PgType
    nullable: bool
    header: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One Avro schema and the table it lands in.

    ``identity`` names one record: the primary key, and for profiles also ``updated_at`` (a profile with
    another ``updated_at`` is another version, not a duplicate). Two records of one identity are the
    same record when they agree on ``compared``: every other column except the per-delivery ones."""

    schema_name: str
    table: Table
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    # customers/merchants are profiles that change: a newer version (by updated_at) replaces the row
    newer_wins: bool = False
    identity: tuple[str, ...] = ()
    compared: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    def batch_decoder(self) -> BatchDecoder | None:
        """The column-wise decoder for this schema, or None when it has arrays (per-record path)."""
        try:
            return BatchDecoder(self.schema_name)
        except TypeError:
            return None


def _pg_type(sql_type: Any) -> PgType:
    if isinstance(sql_type, ARRAY):
        return PgType.INT4_ARRAY if isinstance(sql_type.item_type, Integer) else PgType.TEXT_ARRAY
    for python_type, pg in ((JSONB, PgType.JSONB), (BigInteger, PgType.INT8), (Integer, PgType.INT4),
                            (Double, PgType.FLOAT8), (Boolean, PgType.BOOL), (DateTime, PgType.TIMESTAMPTZ),
                            (Date, PgType.DATE), (Text, PgType.TEXT)):
        if isinstance(sql_type, python_type):
            return pg
    raise TypeError(f"no COPY encoding for column type {sql_type!r}")


def _avro_fields(record: Mapping[str, Any], prefix: str = "") -> dict[str, bool]:
    """Leaf field paths of a record schema -> nullable."""
    out: dict[str, bool] = {}
    for avro_field in record["fields"]:
        type_ = avro_field["type"]
        if isinstance(type_, dict) and type_.get("type") == "record":
            out.update(_avro_fields(type_, prefix + avro_field["name"] + "."))
        else:
            out[prefix + avro_field["name"]] = isinstance(type_, list) and "null" in type_
    return out


def _spec(schema_name: str, table: Table, newer_wins: bool = False) -> TableSpec:
    fields = _avro_fields(load_raw_schema(schema_name))
    by_leaf = {path.rsplit(".", 1)[-1]: path for path in fields}
    columns = []
    for column in table.columns:
        if column.name == "ingested_at":
            continue
        if "header" in column.info:
            columns.append(ColumnSpec(column.name, "", _pg_type(column.type), True, column.info["header"]))
            continue
        path = by_leaf.get(column.name)
        if path is None:
            raise RuntimeError(f"{table.name}.{column.name} has no field in schema {schema_name}")
        if fields[path] != bool(column.nullable):
            raise RuntimeError(f"{table.name}.{column.name}: nullability differs from {schema_name}.{path}")
        columns.append(ColumnSpec(column.name, path, _pg_type(column.type), bool(column.nullable)))
    missing = set(fields) - {c.field for c in columns if c.header is None}
    if missing:
        raise RuntimeError(f"table {table.name} has no column for {schema_name} fields {sorted(missing)}")
    key = tuple(c.name for c in table.primary_key.columns)
    identity = (*key, "updated_at") if newer_wins else key
    compared = tuple(c.name for c in columns if c.name not in identity and not table.c[c.name].info.get("per_delivery"))
    return TableSpec(schema_name, table, tuple(columns), key, newer_wins, identity, compared)


TABLES: dict[str, TableSpec] = {spec.schema_name: spec for spec in (
    _spec("customer", schema.customers, newer_wins=True),
    _spec("merchant", schema.merchants, newer_wins=True),
    _spec("transaction", schema.transactions),
    _spec("label", schema.labels),
    _spec("scored_transaction", schema.scored_transactions),
    _spec("alert", schema.alerts),
)}


def invalid_rows(spec: TableSpec, batch: DecodedBatch) -> dict[str, npt.NDArray[np.bool_]]:
    """Rows of a decoded batch PostgreSQL would reject, by reason (only rows that are ``ok``)."""
    problems = {"text holds a NUL character, which PostgreSQL text cannot store": batch.nul_in_strings & batch.ok}
    for column in spec.columns:
        if column.pg is PgType.TIMESTAMPTZ:
            decoded = batch.columns[column.field]
            values = decoded.values
            bad = (values < TIMESTAMP_MIN_US) | (values > TIMESTAMP_MAX_US)
            if decoded.null is not None:
                bad &= ~decoded.null
            problems[f"{column.field} is outside PostgreSQL's timestamp range"] = bad & batch.ok
    return {reason: mask for reason, mask in problems.items() if mask.any()}


def _trace_column(traces: npt.NDArray[np.bytes_] | None, n: int) -> Segments:
    """The trace_id column: 32 hex digits a row, NULL where b"" (or for every row when ``traces`` is None)."""
    if traces is None:
        return Segments(np.zeros(0, dtype=np.uint8), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                        np.ones(n, dtype=bool))
    ids = np.asarray(traces, dtype="S32")
    if ids.shape != (n,):
        raise ValueError(f"trace ids have shape {ids.shape}, expected ({n},)")
    null = ids == b""
    return Segments(np.ascontiguousarray(ids).view(np.uint8), np.arange(n, dtype=np.int64) * 32,
                    np.full(n, 32, dtype=np.int64), null if null.any() else None)


def rows_from_batch(spec: TableSpec, batch: DecodedBatch, rows: npt.NDArray[np.int64],
                    traces: npt.NDArray[np.bytes_] | None = None) -> CopyRows:
    """COPY rows for ``rows`` of a decoded batch (all ``ok`` and valid); ``traces[i]`` is the trace id of
    row ``rows[i]`` (``common.trace.trace_ids``; None: no trace ids)."""
    data: list[tuple[PgType, Fixed | Segments]] = []
    for column in spec.columns:
        if column.header is not None:
            data.append((column.pg, _trace_column(traces, len(rows))))
            continue
        decoded = batch.columns[column.field]
        null = decoded.null[rows] if decoded.null is not None else None
        kind = decoded.spec.kind
        if kind is FieldKind.STRING:
            assert decoded.lengths is not None
            data.append((column.pg, Segments(batch.buffer, decoded.values[rows], decoded.lengths[rows], null)))
        elif kind is FieldKind.ENUM:
            data.append((column.pg, Segments.from_vocab(decoded.values[rows], decoded.spec.symbols, null)))
        else:
            data.append((column.pg, Fixed(decoded.values[rows], null)))
    return encode_rows(data, len(rows))


def _leaf(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value[part]
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def record_problem(spec: TableSpec, record: Mapping[str, Any]) -> str | None:
    """Why PostgreSQL would reject this decoded record, or None."""
    for column in spec.columns:
        if column.header is not None:
            continue
        value = _leaf(record, column.field)
        if value is None:
            if not column.nullable:
                return f"{column.field} is null"
            continue
        if _has_nul(value):
            return f"{column.field}: text holds a NUL character, which PostgreSQL text cannot store"
        if column.pg is PgType.TIMESTAMPTZ and not TIMESTAMP_MIN_US <= value <= TIMESTAMP_MAX_US:
            return f"{column.field} is outside PostgreSQL's timestamp range"
        if column.pg is PgType.DATE and not _DATE_MIN_DAYS <= value <= _DATE_MAX_DAYS:
            return f"{column.field} is outside PostgreSQL's date range"
        if column.pg is PgType.INT4 and not _INT32_MIN <= value <= _INT32_MAX:
            return f"{column.field} does not fit a 32-bit integer"
        if column.pg is PgType.INT4_ARRAY and any(not _INT32_MIN <= v <= _INT32_MAX for v in value):
            return f"{column.field} holds a value that does not fit a 32-bit integer"
    return None


def _python_column(column: ColumnSpec, values: Sequence[Any]) -> Fixed | Segments:
    if column.pg is PgType.TEXT:
        return Segments.from_bytes([None if v is None else v.encode("utf-8") for v in values])
    if column.pg is PgType.JSONB:
        return Segments.from_bytes([None if v is None else jsonb_value(v) for v in values])
    if column.pg is PgType.TEXT_ARRAY:
        return Segments.from_bytes([None if v is None else text_array_value(v) for v in values])
    if column.pg is PgType.INT4_ARRAY:
        return Segments.from_bytes([None if v is None else int4_array_value(v) for v in values])
    null = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    dtype = {PgType.BOOL: bool, PgType.FLOAT8: np.float64}.get(column.pg, np.int64)
    array = np.array([0 if v is None else v for v in values], dtype=dtype)
    return Fixed(array, null if null.any() else None)


def rows_from_records(spec: TableSpec, records: Sequence[Mapping[str, Any]],
                      traces: npt.NDArray[np.bytes_] | None = None) -> CopyRows:
    """COPY rows for decoded records (already checked with ``record_problem``); ``traces`` as for
    ``rows_from_batch``."""
    data = [(c.pg, _trace_column(traces, len(records)) if c.header is not None
             else _python_column(c, [_leaf(r, c.field) for r in records])) for c in spec.columns]
    return encode_rows(data, len(records))
