"""One field's column as a block: a fixed-width encoded item per row (``V<w>`` numpy voids) holding the
field's Avro bytes left-aligned and padded, with each row's true length (see `schemas.batch`).

This module makes the blocks of integer, boolean, double and fixed-length string columns; dictionary-encoded
columns are `schemas.batch_vocab`'s, and `schemas.batch_layout` lays the blocks out into records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfinance.schemas.fields import FieldKind
from synfinance.schemas.varints import varints, zigzag_varint

__all__ = ["Block", "SchemaField", "as_items", "constant_block", "double_block", "fixed_string_blocks",
           "integer_block"]


@dataclass(frozen=True, slots=True)
class SchemaField:
    """A leaf field of the schema as the encoder writes it: its kind, union tags and enum symbols."""

    name: str  # dotted path for fields of nested records, e.g. "features.txn_count_5m"
    kind: FieldKind
    nullable: bool = False  # ["null", T] union
    null_tag: bytes = b""  # union branch index of null, zigzag-encoded
    value_tag: bytes = b""  # union branch index of T
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    """One field's encoded bytes for every row (or one constant for all), padded to `width`; `lens` are the
    true lengths (an int when every row's is the same)."""

    items: np.ndarray  # (n,) V<width> items, or a 0-d constant
    width: int
    lens: np.ndarray | int


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def as_items(matrix: np.ndarray) -> np.ndarray:
    """View an (n, w) uint8 matrix as n items of ``V<w>``."""
    matrix = np.ascontiguousarray(matrix)
    return matrix.view(f"V{matrix.shape[1]}").reshape(matrix.shape[0])


def constant_block(data: bytes) -> Block:
    return Block(np.frombuffer(data, dtype=f"V{len(data)}")[0], len(data), len(data))


def fixed_string_blocks(where: str, field: SchemaField, data: np.ndarray, null: np.ndarray | None,
                        n: int) -> list[Block]:
    if data.dtype.kind != "S" or data.dtype.itemsize == 0 or data.shape != (n,):
        raise TypeError(f"{where}: FixedStrings needs an S<k> array of shape ({n},), got {data.dtype}")
    if null is not None and (not field.nullable or null.dtype != np.bool_ or null.shape != (n,)):
        raise TypeError(f"{where}: FixedStrings.null needs a nullable field and a bool array of shape ({n},)")
    k = data.dtype.itemsize
    matrix = np.ascontiguousarray(data).view(np.uint8).reshape(n, k)
    present = matrix if null is None else matrix[~null]
    # numpy drops trailing NULs when reading S<k> items, so a shorter string would be padded here
    if len(present) and (not present[:, -1].all() or int(present.max()) > 0x7F):
        raise ValueError(f"{where}: FixedStrings must all be exactly {k} ASCII characters")
    head = field.value_tag + zigzag_varint(k)
    if null is None:
        return [constant_block(head), Block(as_items(matrix), k, k)]
    # one block: the union tag and length, then the string; a null row is its tag alone (the rest is padding
    # that the next field overwrites)
    items = np.empty((n, len(head) + k), dtype=np.uint8)
    items[:, :len(head)] = np.frombuffer(head, dtype=np.uint8)
    items[:, len(head):] = matrix
    items[null, 0] = field.null_tag[0]
    return [Block(as_items(items), len(head) + k, np.where(null, len(field.null_tag), len(head) + k))]


def integer_block(where: str, field: SchemaField, column: np.ndarray) -> Block:
    if column.dtype == np.uint64 and column.size and int(column.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: value above the Avro long range")
    if field.kind is FieldKind.INT and column.size:
        low, high = int(column.min()), int(column.max())
        if low < _INT32_MIN or high > _INT32_MAX:
            raise ValueError(f"{where}: value outside the Avro int range")
    matrix, lens = varints(column)
    return Block(as_items(matrix), matrix.shape[1], lens)


def double_block(field: SchemaField, column: np.ndarray) -> Block:
    values = np.ascontiguousarray(column, dtype="<f8")
    if not field.nullable:
        return Block(values.view("V8"), 8, 8)
    null = np.isnan(values)
    matrix = np.empty((len(values), 9), dtype=np.uint8)
    matrix[:, 0] = np.where(null, field.null_tag[0], field.value_tag[0])
    matrix[:, 1:] = values.view(np.uint8).reshape(-1, 8)
    return Block(as_items(matrix), 9, np.where(null, 1, 9))
