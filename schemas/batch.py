"""Column-wise Avro batch encoder: the producer's hot path.

``BatchEncoder(name, prefix).encode(columns, n)`` returns the ``n`` framed records of a batch given as
numpy columns, byte-identical to ``schemas.codec`` encoding each row as a dict, at several times the
speed of per-record fastavro (see bench/bench_codec.py).

How: every field becomes a block of fixed-width items (``V<w>`` numpy voids), one per row, holding the
field's encoded bytes left-aligned and padded, plus the per-row true length. Strings and enums are
dictionary-encoded (``Vocab``), so each distinct value is encoded once and the block is a gather.
Records are laid out in one buffer with some slack after each; field by field, each block is scattered
to every row's current write position, which then advances by that row's true length. A block's
padding spills over the next field's bytes, which are written afterwards, so each record ends up
exact. Neighbouring small vocabularies are joined into one, and neighbouring fixed-width fields into
one block, to save scatters. Python touches each record once, to slice it out.

This module holds the encoder and its column types; the blocks of plain columns are made in
`schemas.batch_blocks`, those of Vocab columns (and their joining) in `schemas.batch_vocab`, and
`schemas.batch_layout` lays blocks out into records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synfinance.schemas.batch_blocks import (
    Block,
    SchemaField,
    constant_block,
    double_block,
    fixed_string_blocks,
    integer_block,
)
from synfinance.schemas.batch_layout import assemble
from synfinance.schemas.batch_vocab import VocabPart, Vocabularies
from synfinance.schemas.codec import load_raw_schema, single_object_prefix
from synfinance.schemas.fields import PRIMITIVE_KINDS, FieldKind, leaf_fields, nullable, resolver
from synfinance.schemas.varints import zigzag_varint

__all__ = ["BatchEncoder", "Column", "FixedStrings", "Vocab"]


@dataclass(frozen=True, slots=True)
class Vocab:
    """Dictionary-encoded strings/enum symbols: row ``i`` holds ``values[codes[i]]`` (``None`` = null).

    ``BatchEncoder`` encodes ``values`` once and reuses that while it is given the same ``values``
    object with the same length, so pass a stable sequence and do not modify its entries in place
    (appending is fine).
    """

    codes: np.ndarray
    values: Sequence[str | None]


@dataclass(frozen=True, slots=True)
class FixedStrings:
    """Equal-length ASCII strings as a numpy ``S<k>`` array (e.g. ids); for a ``["null", string]`` field,
    ``null`` marks the rows that are null (their ``data`` is not read)."""

    data: np.ndarray
    null: np.ndarray | None = None


Column = np.ndarray | Vocab | FixedStrings


class BatchEncoder:
    """Encodes a batch of records given column-wise, framed with ``framing_prefix``.

    Columns, one per field (nested record fields by dotted name, e.g. ``"features.is_night"``):

    * long / int / timestamp-micros / date: integer ``np.ndarray`` (cast to int64);
    * boolean: bool ``np.ndarray``; double: float ``np.ndarray``;
    * ``["null", "double"]``: float ``np.ndarray``, NaN meaning null;
    * string / enum / ``["null", string]`` / ``["null", enum]``: ``Vocab`` (enum values are symbol
      names, ``None`` is null); string and ``["null", string]`` also take ``FixedStrings`` (with a
      ``null`` mask for the latter).

    Unsupported field types (arrays, maps, other unions) or column kinds raise ``TypeError``; bad
    values (None for a non-null field, unknown enum symbol, int out of range) raise ``ValueError``.

    >>> import numpy as np
    >>> from synfinance.schemas.codec import decode
    >>> columns = {
    ...     "transaction_id": FixedStrings(np.array([b"T0001", b"T0002"])),
    ...     "customer_id": Vocab(np.array([0, 0]), ["C000042"]),
    ...     "event_time": np.array([1_700_000_000_000_000, 1_700_000_000_500_000]),
    ...     "is_fraud": np.array([False, True]),
    ...     "fraud_type": Vocab(np.array([0, 1]), [None, "card_testing"]),
    ...     "scenario_id": Vocab(np.array([0, 1]), [None, "S7"]),
    ...     "is_anomaly": np.array([False, False]),
    ...     "anomaly_type": Vocab(np.array([0, 0]), [None]),
    ...     "severity": np.zeros(2),
    ...     "label_time": np.array([1_700_000_600_000_000, 1_700_000_600_500_000]),
    ...     "revision": np.zeros(2, dtype=np.int32),
    ... }
    >>> records = BatchEncoder("label").encode(columns, 2)
    >>> decode(records[1])["fraud_type"], decode(records[1])["event_time"]
    ('card_testing', 1700000000500000)
    """

    def __init__(self, schema_name: str, framing_prefix: bytes | None = None) -> None:
        self.schema_name = schema_name
        self.framing_prefix = single_object_prefix(schema_name) if framing_prefix is None else framing_prefix
        schema = load_raw_schema(schema_name)
        self._resolve = resolver(schema)
        self._fields: list[SchemaField] = [self._field(name, type_) for name, type_ in leaf_fields(schema)]
        self.field_names = tuple(f.name for f in self._fields)
        self._vocabularies = Vocabularies()

    def _field(self, name: str, type_: Any) -> SchemaField:
        where = f"{self.schema_name}.{name}"
        union = nullable(type_, self._resolve, where, "BatchEncoder")
        if union is not None:
            null_index, branch = union
            inner = self._field(name, branch)
            if inner.kind not in (FieldKind.DOUBLE, FieldKind.STRING, FieldKind.ENUM):
                raise TypeError(f"{where}: nullable {inner.kind.value} is not supported by BatchEncoder")
            tags = zigzag_varint(null_index), zigzag_varint(1 - null_index)
            return SchemaField(name, inner.kind, True, *tags, symbols=inner.symbols)
        if isinstance(type_, str) and type_ in PRIMITIVE_KINDS:
            return SchemaField(name, PRIMITIVE_KINDS[type_])
        if isinstance(type_, dict) and type_.get("type") == "enum":
            return SchemaField(name, FieldKind.ENUM, symbols=tuple(type_["symbols"]))
        kind = type_.get("type") if isinstance(type_, dict) else type_
        raise TypeError(f"{where}: {kind} fields are not supported by BatchEncoder")

    def encode(self, columns: Mapping[str, Column], n: int) -> list[bytes]:
        """The ``n`` framed records whose field values are given by ``columns``."""
        missing = [name for name in self.field_names if name not in columns]
        extra = sorted(set(columns) - set(self.field_names))
        if missing or extra:
            raise ValueError(f"{self.schema_name} columns: missing {missing}, unexpected {extra}")
        if n == 0:
            return []
        parts: list[Block | VocabPart] = [constant_block(self.framing_prefix)] if self.framing_prefix else []
        for field in self._fields:
            parts.extend(self._parts(field, columns[field.name], n))
        return assemble(self._vocabularies.blocks(parts), n)

    def _parts(self, field: SchemaField, column: Column, n: int) -> Sequence[Block | VocabPart]:
        where = f"{self.schema_name}.{field.name}"
        if isinstance(column, Vocab):
            if field.kind not in (FieldKind.STRING, FieldKind.ENUM):
                raise TypeError(f"{where}: Vocab column given for a {field.kind.value} field")
            return [self._vocabularies.part(where, field, column.codes, column.values, n)]
        if isinstance(column, FixedStrings):
            if field.kind is not FieldKind.STRING:
                raise TypeError(f"{where}: FixedStrings column given for a {field.kind.value} field")
            return fixed_string_blocks(where, field, column.data, column.null, n)
        if not isinstance(column, np.ndarray):
            raise TypeError(f"{where}: unsupported column type {type(column).__name__}")
        if column.shape != (n,):
            raise ValueError(f"{where}: column shape {column.shape}, expected ({n},)")
        dtype_kind = column.dtype.kind
        if field.kind in (FieldKind.LONG, FieldKind.INT) and dtype_kind in "iu":
            return [integer_block(where, field, column)]
        if field.kind is FieldKind.BOOLEAN and dtype_kind == "b":
            return [Block(column.view(np.uint8), 1, 1)]
        if field.kind is FieldKind.DOUBLE and dtype_kind == "f":
            return [double_block(field, column)]
        raise TypeError(f"{where}: {column.dtype} array given for a {field.kind.value} field")
