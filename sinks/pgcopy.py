"""PostgreSQL binary COPY rows, assembled column-wise with numpy.

Binary COPY (``COPY ... FROM STDIN (FORMAT binary)``) carries each field as a 4-byte big-endian length
and the type's wire form: text as raw UTF-8 (nothing to escape), integers and floats big-endian,
timestamps as microseconds since 2000-01-01. So a batch decoded column-wise (``schemas.batch_decode``)
becomes COPY rows with a few numpy operations per column and no Python object per field: that, not
PostgreSQL, is what bounds a Python sink's rows/s.

How: each column becomes a block of fixed-width items (length prefix + value, left-aligned and padded,
like ``schemas.batch``) scattered to every row's write position, which then advances by the row's true
field length; a block's padding spills into the next field's place and is overwritten by it. Rows are
laid out with slack between them so the spill never reaches the next row, then cut out and joined.

>>> import numpy as np
>>> rows = encode_rows([(PgType.INT8, Fixed(np.array([7, 8]))),
...                     (PgType.TEXT, Segments.from_bytes([b"ab", None]))], 2)
>>> rows.row(1).hex()
'0002000000080000000000000008ffffffff'
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "COPY_HEADER",
    "COPY_TRAILER",
    "CopyRows",
    "Fixed",
    "PgType",
    "Segments",
    "encode_rows",
    "int4_array_value",
    "jsonb_value",
    "text_array_value",
]

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
PG_EPOCH_DAYS = 10_957
# PostgreSQL's timestamp range (src/include/datatype/timestamp.h) in Unix microseconds; its upper end
# lies beyond int64 once shifted to the Unix epoch, so every Avro long above the lower end fits
TIMESTAMP_MIN_US = -211_813_488_000_000_000 + PG_EPOCH_US
TIMESTAMP_MAX_US = 2**63 - 1
_TEXT_OID, _INT4_OID = 25, 23
# Values longer than this are copied one by one after their block: a padded block is rows x width
_MAX_BLOCK_WIDTH = 256
_NULL_LENGTH = b"\xff\xff\xff\xff"


class PgType(enum.Enum):
    """Column types the encoder writes (value: the SQL type name)."""

    TEXT = "text"
    JSONB = "jsonb"
    TEXT_ARRAY = "text[]"
    INT4_ARRAY = "integer[]"
    BOOL = "boolean"
    INT4 = "integer"
    DATE = "date"
    INT8 = "bigint"
    FLOAT8 = "double precision"
    TIMESTAMPTZ = "timestamptz"

    @property
    def width(self) -> int:
        """Wire width of a fixed-size type; 0 for variable-length types."""
        return _WIDTHS.get(self, 0)


_WIDTHS = {PgType.BOOL: 1, PgType.INT4: 4, PgType.DATE: 4, PgType.INT8: 8, PgType.FLOAT8: 8, PgType.TIMESTAMPTZ: 8}


@dataclass(frozen=True, slots=True)
class Fixed:
    """Numbers, booleans, timestamps (Unix µs) or dates (Unix days); ``null`` masks SQL NULLs."""

    values: npt.NDArray[Any]
    null: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True, slots=True)
class Segments:
    """Variable-length values already in wire form: ``buffer[starts[i]:starts[i] + lengths[i]]``."""

    buffer: npt.NDArray[np.uint8]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    null: npt.NDArray[np.bool_] | None = None

    @classmethod
    def from_bytes(cls, values: Sequence[bytes | None]) -> Segments:
        """From Python values (the per-record path); ``None`` is NULL."""
        parts = [b"" if v is None else v for v in values]
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        starts = np.cumsum(lengths) - lengths
        null = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        return cls(np.frombuffer(b"".join(parts), dtype=np.uint8), starts, lengths, null if null.any() else None)

    @classmethod
    def from_vocab(cls, codes: npt.NDArray[np.int64], vocab: Sequence[str],
                   null: npt.NDArray[np.bool_] | None = None) -> Segments:
        """Row ``i`` is ``vocab[codes[i]]`` (enum symbols): each distinct value encoded once."""
        encoded = [s.encode("utf-8") for s in vocab]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        starts = np.cumsum(lengths) - lengths
        buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(buffer, starts[codes], lengths[codes], null)


@dataclass(frozen=True)
class CopyRows:
    """Encoded rows: ``data[offsets[i]:offsets[i + 1]]`` is row ``i`` (header and trailer not included)."""

    data: bytes
    offsets: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> bytes:
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    def slice(self, lo: int, hi: int) -> CopyRows:
        """Rows ``lo:hi``."""
        base = int(self.offsets[lo])
        return CopyRows(self.data[base:int(self.offsets[hi])], self.offsets[lo:hi + 1] - base)

    def stream(self, lo: int = 0, hi: int | None = None) -> bytes:
        """A complete COPY binary stream of rows ``lo:hi``."""
        hi = len(self) if hi is None else hi
        return COPY_HEADER + self.data[self.offsets[lo]:self.offsets[hi]] + COPY_TRAILER

    @classmethod
    def concat(cls, parts: Sequence[CopyRows]) -> CopyRows:
        parts = [p for p in parts if len(p)]
        if len(parts) == 1:
            return parts[0]
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for part in parts:
            offsets.append(part.offsets[1:] + base)
            base += len(part.data)
        return cls(b"".join(p.data for p in parts), np.concatenate(offsets))


@dataclass(frozen=True, slots=True)
class _Field:
    """How one column is written into every row: a 4-byte length, then (unless NULL) the value."""

    header: npt.NDArray[Any]  # (n,) V4 items, or one V4 item for every row
    data: npt.NDArray[Any] | None  # (n,) V<width> items, padded
    lens: npt.NDArray[np.int64] | int  # bytes the field takes in each row, header included
    long_rows: tuple[Segments, npt.NDArray[np.int64]] | None = None  # values wider than the items

    @property
    def width(self) -> int:
        return 4 + (self.data.dtype.itemsize if self.data is not None else 0)


def _be_int32(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.asarray(values).astype(">i4").view("V4")


def _fixed_field(kind: PgType, column: Fixed, n: int) -> _Field:
    values = np.asarray(column.values)
    if values.shape != (n,):
        raise ValueError(f"{kind.name} column has shape {values.shape}, expected ({n},)")
    if kind is PgType.BOOL:
        wire = values.astype(np.uint8)
    elif kind is PgType.INT4:
        wire = values.astype(">i4")
    elif kind is PgType.DATE:
        wire = (values.astype(np.int64) - PG_EPOCH_DAYS).astype(">i4")
    elif kind is PgType.INT8:
        wire = values.astype(">i8")
    elif kind is PgType.TIMESTAMPTZ:
        wire = (values.astype(np.int64) - PG_EPOCH_US).astype(">i8")
    elif kind is PgType.FLOAT8:
        wire = values.astype(">f8")
    else:
        raise TypeError(f"{kind.name} needs Segments, not Fixed")
    width = kind.width
    data = wire.view(f"V{width}")
    if column.null is None or not column.null.any():
        return _Field(_be_int32(np.array(width)), data, 4 + width)
    return _Field(_be_int32(np.where(column.null, -1, width)), data, np.where(column.null, 4, 4 + width))


def _segments_field(column: Segments, n: int) -> _Field:
    lengths = column.lengths.astype(np.int64)
    if lengths.shape != (n,):
        raise ValueError(f"segments column has shape {lengths.shape}, expected ({n},)")
    null = column.null if column.null is not None else np.zeros(n, dtype=bool)
    lengths = np.where(null, 0, lengths)
    header = _be_int32(np.where(null, -1, lengths))
    width = min(int(lengths.max(initial=0)), _MAX_BLOCK_WIDTH)
    if not width:
        return _Field(header, None, 4 + lengths)
    source = column.buffer
    if len(source) < int(column.starts.max(initial=0)) + width:  # pad so every window is in bounds
        source = np.concatenate([source, np.zeros(width, dtype=np.uint8)])
    # overlapping view: window j is the `width` bytes starting at source[j]; one gather per column
    windows = np.ndarray((len(source) - width + 1,), dtype=f"V{width}", buffer=source, strides=(1,))
    data = windows[np.where(null, 0, column.starts)]
    long_rows = np.flatnonzero(lengths > width)
    return _Field(header, data, 4 + lengths, (column, long_rows) if len(long_rows) else None)


def _scatter(out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], items: npt.NDArray[Any]) -> None:
    width = items.dtype.itemsize
    # overlapping view: item j is the `width` bytes starting at out[j]
    view = np.ndarray((out.size - width + 1,), dtype=items.dtype, buffer=out, strides=(1,))
    view[at] = items


def encode_rows(columns: Sequence[tuple[PgType, Fixed | Segments]], n: int) -> CopyRows:
    """Encode ``n`` rows whose fields are given column by column, in the table's column order."""
    fields = [_fixed_field(kind, data, n) if isinstance(data, Fixed) else _segments_field(data, n)
              for kind, data in columns]
    if n == 0:
        return CopyRows(b"", np.zeros(1, dtype=np.int64))
    row_len = np.full(n, 2, dtype=np.int64)
    for f in fields:
        row_len += f.lens
    slack = max((f.width for f in fields), default=0)
    stride = row_len + slack
    ends = np.cumsum(stride)
    starts = ends - stride
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    _scatter(out, starts, np.frombuffer(struct.pack(">h", len(columns)), dtype="V2"))
    pos = starts + 2
    for f in fields:
        _scatter(out, pos, f.header)
        if f.data is not None:
            _scatter(out, pos + 4, f.data)
        if f.long_rows is not None:
            column, rows = f.long_rows
            for row in rows.tolist():
                begin, length, target = int(column.starts[row]), int(column.lengths[row]), int(pos[row]) + 4
                out[target:target + length] = column.buffer[begin:begin + length]
        pos += f.lens
    # cut the slack out: it is the last `slack` bytes of every row's stride
    keep = np.ones(out.size, dtype=bool)
    keep[((starts + row_len)[:, None] + np.arange(slack)).ravel()] = False
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_len, out=offsets[1:])
    return CopyRows(out[keep].tobytes(), offsets)


def jsonb_value(value: Any) -> bytes:
    """``jsonb`` wire form: version byte 1, then the JSON text."""
    return b"\x01" + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _array_value(oid: int, elements: Sequence[bytes]) -> bytes:
    if not elements:
        return struct.pack(">iii", 0, 0, oid)
    head = struct.pack(">iiiii", 1, 0, oid, len(elements), 1)
    return head + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def text_array_value(values: Sequence[str]) -> bytes:
    """``text[]`` wire form (one dimension, lower bound 1, no NULL elements)."""
    return _array_value(_TEXT_OID, [v.encode("utf-8") for v in values])


def int4_array_value(values: Sequence[int]) -> bytes:
    """``integer[]`` wire form (one dimension, lower bound 1, no NULL elements)."""
    return _array_value(_INT4_OID, [struct.pack(">i", v) for v in values])
