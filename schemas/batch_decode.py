"""Column-wise Avro batch decoder: the sink's hot path (the reverse of ``schemas/batch.py``).

``BatchDecoder(name).decode(values)`` parses a batch of framed records field by field for all rows at
once with numpy, instead of record by record: per field, every row's current read position advances
together. The result is columns (numpy arrays; strings as offsets into the batch buffer, never Python
``str``), which the sink turns into PostgreSQL binary COPY rows without a Python object per field.

The decoder is deliberately conservative: a row that is not plainly valid (unknown framing, truncated
or trailing bytes, a varint longer than needed for 64 bits, a boolean byte other than 0/1, an ``int``
outside 32 bits, an enum index or union branch out of range, invalid UTF-8) is marked not ``ok`` and
the caller decides it with ``schemas.codec`` record by record, which stays the one authority. For
every ``ok`` row, ``DecodedBatch.records()`` equals ``codec.decode`` (tests/schemas/test_batch_decode.py).

Supported schemas: records (nested records are flattened to dotted names, e.g. ``features.is_night``)
of long, int, boolean, double, string, enum and ``["null", T]`` of those; arrays, maps, bytes, fixed
and other unions raise ``TypeError`` at construction (such schemas use the codec's per-record path).

>>> from synfinance.schemas.codec import encode
>>> label = {"transaction_id": "T1", "customer_id": "C1", "event_time": 5, "is_fraud": True,
...          "fraud_type": "card_testing", "scenario_id": None, "is_anomaly": False,
...          "anomaly_type": None, "severity": 0.0, "label_time": 9, "revision": 0}
>>> batch = BatchDecoder("label").decode([encode("label", label), b"garbage"])
>>> batch.ok.tolist(), batch.records([0]) == [label]
([True, False], True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.schemas.codec import CONFLUENT_HEADER_LEN, confluent_schema_name, load_raw_schema, single_object_prefix
from synfinance.schemas.fields import PRIMITIVE_KINDS, FieldKind, leaf_fields, nullable, resolver

__all__ = ["BatchDecoder", "DecodedBatch", "DecodedColumn", "FieldKind", "FieldSpec"]

# Bytes appended after the batch so fixed-width reads near its end never index past the buffer (and
# so consumers can read fixed-width windows of up to this many bytes at any string's start).
_PAD = 512
_VARINT_MAX_BYTES = 10
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_SHIFTS = np.arange(0, 7 * _VARINT_MAX_BYTES, 7, dtype=np.uint64)
_WINDOW = np.arange(_VARINT_MAX_BYTES, dtype=np.int64)
_DOUBLE_WINDOW = np.arange(8, dtype=np.int64)



@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One decoded field: dotted ``name``, Avro kind, and for ``["null", T]`` the null branch index."""

    name: str
    kind: FieldKind
    nullable: bool = False
    null_index: int = 0
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodedColumn:
    """A field's values for every row of a batch (meaningful only where ``DecodedBatch.ok``).

    ``values``: int64 for long/int, int64 symbol index for enum, bool, float64; for strings the int64
    offset of each value's UTF-8 bytes in ``DecodedBatch.buffer``, with ``lengths`` their sizes.
    ``null`` is a bool mask for nullable fields, else ``None``.
    """

    spec: FieldSpec
    values: npt.NDArray[Any]
    lengths: npt.NDArray[np.int64] | None = None
    null: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class DecodedBatch:
    """The columns of a decoded batch, over ``buffer`` (all values joined, plus padding)."""

    schema_name: str
    buffer: npt.NDArray[np.uint8]
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    ok: npt.NDArray[np.bool_]
    columns: dict[str, DecodedColumn]
    nul_in_strings: npt.NDArray[np.bool_] = field(repr=False)  # a string holds U+0000 (PostgreSQL rejects it)

    def __len__(self) -> int:
        return len(self.starts)

    def value(self, row: int) -> bytes:
        """The original framed bytes of ``row``."""
        return self.buffer[self.starts[row]:self.ends[row]].tobytes()

    def records(self, rows: Iterable[int] | None = None, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, exactly as ``schemas.codec.decode`` returns them (only for ``ok`` rows);
        ``fields``: only these top-level, non-record fields (cheaper when a reader needs a few)."""
        index = np.flatnonzero(self.ok) if rows is None else np.fromiter(rows, dtype=np.int64)
        if not self.ok[index].all():
            raise ValueError("records() asked for rows that did not decode; use schemas.codec for those")
        raw = self.buffer.tobytes()
        if fields is not None:
            unknown = [name for name in fields if name not in self.columns]
            if unknown:
                raise KeyError(f"{self.schema_name} has no top-level fields {unknown}")
            values = [_python_values(raw, self.columns[name], index) for name in fields]
            return [dict(zip(fields, row, strict=True)) for row in zip(*values, strict=True)]
        lists = {name: _python_values(raw, column, index) for name, column in self.columns.items()}
        out: list[dict[str, Any]] = [{} for _ in range(len(index))]
        for name, values in lists.items():
            *parents, leaf = name.split(".")
            for record, value in zip(out, values, strict=True):
                target = record
                for parent in parents:
                    target = target.setdefault(parent, {})
                target[leaf] = value
        return out


def _python_values(raw: bytes, column: DecodedColumn, index: npt.NDArray[np.int64]) -> list[Any]:
    kind = column.spec.kind
    if kind is FieldKind.STRING:
        assert column.lengths is not None
        starts, ends = column.values[index], column.values[index] + column.lengths[index]
        values: list[Any] = [raw[s:e].decode("utf-8") for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    elif kind is FieldKind.ENUM:
        symbols = column.spec.symbols
        values = [symbols[code] for code in column.values[index].tolist()]
    else:
        values = column.values[index].tolist()
    if column.null is not None:
        nulls = column.null[index].tolist()
        values = [None if is_null else value for value, is_null in zip(values, nulls, strict=True)]
    return values


class BatchDecoder:
    """Decodes batches of framed records of one schema into columns.

    ``prefixes`` are the framing headers accepted (default: the schema's single-object header). A
    Confluent ``00 + id`` header is accepted too when the codec's resolver names the id as this schema
    (`synfinance.schemas.codec.resolve_confluent_ids`). Rows with any other header are not ok.
    """

    def __init__(self, schema_name: str, prefixes: Sequence[bytes] | None = None) -> None:
        self.schema_name = schema_name
        self.prefixes = tuple(prefixes) if prefixes is not None else (single_object_prefix(schema_name),)
        if not self.prefixes or any(not p for p in self.prefixes):
            raise ValueError("BatchDecoder needs at least one non-empty framing prefix")
        schema = load_raw_schema(schema_name)
        self._resolve = resolver(schema)
        self.fields: list[FieldSpec] = [self._spec(name, type_) for name, type_ in leaf_fields(schema)]

    def _spec(self, name: str, type_: Any) -> FieldSpec:
        where = f"{self.schema_name}.{name}"
        union = nullable(type_, self._resolve, where, "BatchDecoder")
        if union is not None:
            null_index, branch = union
            inner = self._spec(name, branch)
            return FieldSpec(name, inner.kind, True, null_index, inner.symbols)
        if isinstance(type_, str) and type_ in PRIMITIVE_KINDS:
            return FieldSpec(name, PRIMITIVE_KINDS[type_])
        if isinstance(type_, dict) and type_.get("type") == "enum":
            return FieldSpec(name, FieldKind.ENUM, symbols=tuple(type_["symbols"]))
        kind = type_.get("type") if isinstance(type_, dict) else type_
        raise TypeError(f"{where}: {kind} fields are not supported by BatchDecoder")

    def decode(self, values: Sequence[bytes]) -> DecodedBatch:
        """Decode ``values`` (framed records); ``ok[i]`` says whether row ``i`` decoded cleanly."""
        n = len(values)
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        ends = np.cumsum(lens)
        starts = ends - lens
        raw = b"".join(values)
        buf = np.frombuffer(raw + bytes(_PAD), dtype=np.uint8)
        reader = _Reader(buf, len(raw), n)
        pos = self._after_prefix(reader, starts, lens)
        columns: dict[str, DecodedColumn] = {}
        for spec in self.fields:
            columns[spec.name], pos = self._field(reader, spec, pos)
            # A bad row may have run past the end of the batch: keep its reads inside the padding.
            # Positions only grow, so the final check (pos == end of row) catches every overrun.
            np.minimum(pos, reader.size, out=pos)
        bad = reader.bad | (pos != ends)
        strings = [c for c in columns.values() if c.spec.kind is FieldKind.STRING]
        nul = _check_strings(raw, buf, strings, bad)
        return DecodedBatch(self.schema_name, buf, starts, ends, ~bad, columns, nul)

    def _after_prefix(self, reader: _Reader, starts: npt.NDArray[np.int64],
                      lens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        pos = starts.copy()
        matched = np.zeros(len(starts), dtype=bool)
        for prefix in self.prefixes:
            k = len(prefix)
            head = reader.buf[starts[:, None] + np.arange(k)]
            hit = ~matched & (lens >= k) & (head == np.frombuffer(prefix, dtype=np.uint8)).all(axis=1)
            pos[hit] += k
            matched |= hit
        confluent = ~matched & (lens >= CONFLUENT_HEADER_LEN) & (reader.buf[starts] == 0)
        if confluent.any():  # Confluent wire format: 00 + big-endian id, named through the codec's resolver
            id_bytes = reader.buf[starts[confluent][:, None] + np.arange(1, CONFLUENT_HEADER_LEN)].astype(np.uint32)
            ids = (id_bytes[:, 0] << 24) | (id_bytes[:, 1] << 16) | (id_bytes[:, 2] << 8) | id_bytes[:, 3]
            ours = [int(i) for i in np.unique(ids) if confluent_schema_name(int(i)) == self.schema_name]
            hit = np.zeros(len(starts), dtype=bool)
            hit[np.flatnonzero(confluent)[np.isin(ids, ours)]] = True
            pos[hit] += CONFLUENT_HEADER_LEN
            matched |= hit
        reader.bad |= ~matched
        return pos

    def _field(self, r: _Reader, spec: FieldSpec,
               pos: npt.NDArray[np.int64]) -> tuple[DecodedColumn, npt.NDArray[np.int64]]:
        if not spec.nullable:
            values, lengths, pos = _value(r, spec, pos, None)
            return DecodedColumn(spec, values, lengths), pos
        branch, after = r.varint(pos, None)
        r.bad |= (branch != 0) & (branch != 1)
        null = branch == spec.null_index
        # Read a value at every row (cheaper than gathering the non-null rows); null rows keep `after`
        # and ignore what was read, including its errors.
        values, lengths, value_end = _value(r, spec, after, ~null)
        values[null] = 0  # what was read there is not a value: keep it harmless (e.g. as an enum index)
        if lengths is not None:
            lengths[null] = 0
        return DecodedColumn(spec, values, lengths, null), np.where(null, after, value_end)


def _value(r: _Reader, spec: FieldSpec, pos: npt.NDArray[np.int64], live: npt.NDArray[np.bool_] | None,
           ) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64] | None, npt.NDArray[np.int64]]:
    """Read one value of ``spec``'s (non-null) type at ``pos``; errors count only where ``live``."""
    kind = spec.kind
    if kind is FieldKind.DOUBLE:
        window = r.buf[pos[:, None] + _DOUBLE_WINDOW]
        return window.view("<f8").reshape(len(pos)), None, pos + 8
    if kind is FieldKind.BOOLEAN:
        byte = r.buf[pos]
        r.flag(byte > 1, live)
        return byte == 1, None, pos + 1
    number, new_pos = r.varint(pos, live)
    if kind is FieldKind.LONG:
        return number, None, new_pos
    if kind is FieldKind.INT:
        r.flag((number < _INT32_MIN) | (number > _INT32_MAX), live)
        return number, None, new_pos
    if kind is FieldKind.ENUM:
        r.flag((number < 0) | (number >= len(spec.symbols)), live)
        return number, None, new_pos
    # string: a length, then that many UTF-8 bytes
    r.flag((number < 0) | (number > r.size), live)
    lengths = np.clip(number, 0, r.size)  # clipped: a corrupt length must not overflow the arithmetic
    return new_pos, lengths, new_pos + lengths


class _Reader:
    """The padded batch buffer, and the rows found bad so far."""

    def __init__(self, buf: npt.NDArray[np.uint8], size: int, n: int) -> None:
        self.buf, self.size = buf, size
        self.bad = np.zeros(n, dtype=bool)

    def flag(self, bad: npt.NDArray[np.bool_], live: npt.NDArray[np.bool_] | None) -> None:
        self.bad |= bad if live is None else bad & live

    def varint(self, pos: npt.NDArray[np.int64],
               live: npt.NDArray[np.bool_] | None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Zigzag varints at ``pos``: values and the positions after them."""
        first = self.buf[pos]
        multi = first >= 0x80
        if not multi.any():  # string lengths, enum indexes and union branches are nearly always one byte
            small = first.astype(np.int64)
            return (small >> 1) ^ -(small & 1), pos + 1
        z: npt.NDArray[np.uint64] = first.astype(np.uint64)
        new_pos = pos + 1
        everywhere = bool(multi.all())  # timestamps and amounts: every row
        at = pos if everywhere else pos[multi]
        window = self.buf[at[:, None] + _WINDOW]
        more = window >= 0x80
        nbytes = np.argmin(more, axis=1) + 1
        # all ten bytes continue, or a tenth byte carrying more than bit 63: not a 64-bit varint
        overlong = more.all(axis=1) | ((nbytes == _VARINT_MAX_BYTES) & (window[:, -1] > 1))
        value = np.zeros(len(at), dtype=np.uint64)
        for k in range(int(nbytes.max())):  # column by column: reductions along a short axis are slow
            group = (window[:, k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
            value |= np.where(nbytes > k, group, np.uint64(0))
        if everywhere:
            z, new_pos = value, pos + nbytes
            self.flag(overlong, live)
        else:
            z[multi] = value
            new_pos[multi] += nbytes - 1
            bad = np.zeros(len(pos), dtype=bool)
            bad[multi] = overlong
            self.flag(bad, live)
        half = (z >> np.uint64(1)).view(np.int64)
        sign = (z & np.uint64(1)).view(np.int64)
        return half ^ -sign, new_pos


def _check_strings(raw: bytes, buf: npt.NDArray[np.uint8], strings: list[DecodedColumn],
                   bad: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Mark rows with invalid UTF-8 bad (in place); return the rows whose strings hold a NUL byte.

    Strings are scanned eight bytes at a time as uint64 words: a byte >= 0x80 (UTF-8 to be checked,
    by Python, for those rows only) shows in the words' high bits; a NUL byte by the classic
    "has a zero byte" test ``(v - 0x01..01) & ~v & 0x80..80``, with bytes past the string's end set to 1.
    """
    n = len(bad)
    nul = np.zeros(n, dtype=np.uint64)
    high = np.zeros(n, dtype=np.uint64)
    long_rows = np.zeros(n, dtype=bool)
    for column in strings:
        assert column.lengths is not None
        lengths = np.where(bad, 0, column.lengths)
        longest = int(lengths.max(initial=0))
        if longest == 0:
            continue
        if longest > _PAD - 8:  # rare: long strings, checked by Python below
            long_rows |= lengths > _PAD - 8
            lengths = np.minimum(lengths, _PAD - 8)
        words = (min(longest, _PAD - 8) + 7) // 8
        width = 8 * words
        # overlapping view: window j is the `width` bytes from buf[j] (the padding keeps it in bounds)
        windows = np.ndarray((len(buf) - width + 1,), dtype=f"V{width}", buffer=buf, strides=(1,))
        chunk = windows[np.where(bad, 0, column.values)].view(np.uint64).reshape(n, words)
        for k in range(words):
            inside = _BYTE_MASKS[np.clip(lengths - 8 * k, 0, 8)]
            word = chunk[:, k] & inside | (_ONES & ~inside)
            high |= word
            nul |= (word - _ONES) & ~word
    suspect = ((high & _HIGHS) != 0) | long_rows
    for row in np.flatnonzero(suspect & ~bad).tolist():
        for column in strings:
            assert column.lengths is not None
            if column.null is not None and column.null[row]:
                continue
            start = int(column.values[row])
            try:
                raw[start:start + int(column.lengths[row])].decode("utf-8")
            except UnicodeDecodeError:
                bad[row] = True
                break
    has_nul = (nul & _HIGHS) != 0
    for row in np.flatnonzero(long_rows & ~bad).tolist():
        has_nul[row] |= b"\0" in _row_strings(raw, strings, row)
    return has_nul & ~bad


def _row_strings(raw: bytes, strings: list[DecodedColumn], row: int) -> bytes:
    parts = []
    for column in strings:
        assert column.lengths is not None
        if column.null is None or not column.null[row]:
            start = int(column.values[row])
            parts.append(raw[start:start + int(column.lengths[row])])
    return b"".join(parts)


_ONES = np.uint64(0x0101_0101_0101_0101)
_HIGHS = np.uint64(0x8080_8080_8080_8080)
# _BYTE_MASKS[k]: the first k bytes of a little-endian word set
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
