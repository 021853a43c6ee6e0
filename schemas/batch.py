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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synfinance.schemas.codec import load_raw_schema, single_object_prefix
from synfinance.schemas.fields import PRIMITIVE_KINDS, FieldKind, leaf_fields, nullable, resolver
from synfinance.schemas.varints import varints, zigzag_varint

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


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # dotted path for fields of nested records, e.g. "features.txn_count_5m"
    kind: FieldKind
    nullable: bool = False  # ["null", T] union
    null_tag: bytes = b""  # union branch index of null, zigzag-encoded
    value_tag: bytes = b""  # union branch index of T
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Block:
    items: np.ndarray  # (n,) V<width> items, or a 0-d constant
    width: int
    lens: np.ndarray | int


@dataclass(frozen=True, slots=True)
class _EncodedVocab:
    """Every entry of a vocabulary encoded once, as padded ``V<width>`` items and their true lengths."""

    values: Sequence[str | None] | None  # the Vocab.values this encodes (None for a joint vocab)
    items: np.ndarray
    lens: np.ndarray
    width: int

    def __len__(self) -> int:
        return len(self.lens)

    def matrix(self) -> np.ndarray:
        """The items as an (entries, width) uint8 matrix (a view)."""
        return self.items.view(np.uint8).reshape(len(self.lens), self.width)

    def entries(self) -> list[bytes]:
        """Each entry's bytes: made on demand, as only small vocabularies are joined entry by entry."""
        buf, width = self.matrix().tobytes(), self.width
        return [buf[i * width:i * width + k] for i, k in enumerate(self.lens.tolist())]

    @classmethod
    def pack(cls, values: Sequence[str | None] | None, encoded: list[bytes]) -> _EncodedVocab:
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        return cls._place(values, lens, np.frombuffer(b"".join(encoded), dtype=np.uint8))

    @classmethod
    def concatenated(cls, values: Sequence[str | None] | None,
                     pieces: list[tuple[np.ndarray, np.ndarray]]) -> _EncodedVocab:
        """Entry i is, for each (matrix, lens) piece in turn, the first lens[i] bytes of the matrix's row i."""
        total = np.zeros(len(pieces[0][1]), dtype=np.int64)
        for _, lens in pieces:
            total += lens
        matrix = np.concatenate([m for m, _ in pieces], axis=1)
        used = np.concatenate([np.arange(m.shape[1]) < lens[:, None] for m, lens in pieces], axis=1)
        return cls._place(values, total, matrix[used])  # C order: row by row, pieces in turn

    @classmethod
    def _place(cls, values: Sequence[str | None] | None, lens: np.ndarray, flat: np.ndarray) -> _EncodedVocab:
        """Entries whose bytes, joined in order, are `flat`, padded with NULs to the widest without a Python
        ljust per entry (instrument or device vocabularies hold ~10^5 entries): a boolean mask assignment
        fills the True cells in C order, i.e. row by row, left to right, which is exactly the joined order."""
        width = int(lens.max(initial=1)) or 1
        matrix = np.zeros((len(lens), width), dtype=np.uint8)
        matrix[np.arange(width) < lens[:, None]] = flat
        return cls(values, matrix.view(f"V{width}").reshape(len(lens)), lens, width)


@dataclass(frozen=True, slots=True)
class _VocabPart:
    """A Vocab column, kept apart until neighbouring small vocabularies have been joined."""

    name: str
    vocab: _EncodedVocab
    codes: np.ndarray


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# Consecutive Vocab fields whose combined vocabulary has at most this many entries are encoded as one
# field (e.g. channel x entry_mode x transaction_type): each field costs a scatter over the whole batch.
_JOINT_VOCAB_LIMIT = 4096


def _as_items(matrix: np.ndarray) -> np.ndarray:
    """View an (n, w) uint8 matrix as n items of ``V<w>``."""
    matrix = np.ascontiguousarray(matrix)
    return matrix.view(f"V{matrix.shape[1]}").reshape(matrix.shape[0])


def _constant(data: bytes) -> _Block:
    return _Block(np.frombuffer(data, dtype=f"V{len(data)}")[0], len(data), len(data))


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
        self._fields: list[_Field] = [self._field(name, type_) for name, type_ in leaf_fields(schema)]
        self.field_names = tuple(f.name for f in self._fields)
        self._vocabs: dict[str, _EncodedVocab] = {}
        self._joint_vocabs: dict[tuple[str, ...], tuple[tuple[_EncodedVocab, ...], _EncodedVocab]] = {}
        self._zipped_vocabs: dict[tuple[str, ...], tuple[tuple[_EncodedVocab, ...], _EncodedVocab]] = {}

    def _field(self, name: str, type_: Any) -> _Field:
        where = f"{self.schema_name}.{name}"
        union = nullable(type_, self._resolve, where, "BatchEncoder")
        if union is not None:
            null_index, branch = union
            inner = self._field(name, branch)
            if inner.kind not in (FieldKind.DOUBLE, FieldKind.STRING, FieldKind.ENUM):
                raise TypeError(f"{where}: nullable {inner.kind.value} is not supported by BatchEncoder")
            tags = zigzag_varint(null_index), zigzag_varint(1 - null_index)
            return _Field(name, inner.kind, True, *tags, symbols=inner.symbols)
        if isinstance(type_, str) and type_ in PRIMITIVE_KINDS:
            return _Field(name, PRIMITIVE_KINDS[type_])
        if isinstance(type_, dict) and type_.get("type") == "enum":
            return _Field(name, FieldKind.ENUM, symbols=tuple(type_["symbols"]))
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
        parts: list[_Block | _VocabPart] = [_constant(self.framing_prefix)] if self.framing_prefix else []
        for field in self._fields:
            parts.extend(self._parts(field, columns[field.name], n))
        return _assemble(self._join_vocabs(parts), n)

    def _parts(self, field: _Field, column: Column, n: int) -> list[_Block | _VocabPart]:
        where = f"{self.schema_name}.{field.name}"
        if isinstance(column, Vocab):
            if field.kind not in (FieldKind.STRING, FieldKind.ENUM):
                raise TypeError(f"{where}: Vocab column given for a {field.kind.value} field")
            return [self._vocab_part(field, column, n)]
        if isinstance(column, FixedStrings):
            if field.kind is not FieldKind.STRING:
                raise TypeError(f"{where}: FixedStrings column given for a {field.kind.value} field")
            return _fixed_string_blocks(where, field, column.data, column.null, n)
        if not isinstance(column, np.ndarray):
            raise TypeError(f"{where}: unsupported column type {type(column).__name__}")
        if column.shape != (n,):
            raise ValueError(f"{where}: column shape {column.shape}, expected ({n},)")
        dtype_kind = column.dtype.kind
        if field.kind in (FieldKind.LONG, FieldKind.INT) and dtype_kind in "iu":
            return [_integer_block(where, field, column)]
        if field.kind is FieldKind.BOOLEAN and dtype_kind == "b":
            return [_Block(column.view(np.uint8), 1, 1)]
        if field.kind is FieldKind.DOUBLE and dtype_kind == "f":
            return [_double_block(field, column)]
        raise TypeError(f"{where}: {column.dtype} array given for a {field.kind.value} field")

    def _vocab_part(self, field: _Field, column: Vocab, n: int) -> _VocabPart:
        where = f"{self.schema_name}.{field.name}"
        codes = np.asarray(column.codes)
        if codes.shape != (n,) or codes.dtype.kind not in "iu":
            raise ValueError(f"{where}: Vocab codes must be an integer array of shape ({n},)")
        vocab = self._vocabs.get(field.name)
        if vocab is None or vocab.values is not column.values or len(vocab) != len(column.values):
            vocab = _EncodedVocab.pack(column.values, _encode_vocab(where, field, column.values))
            self._vocabs[field.name] = vocab
        if int(codes.min()) < 0 or int(codes.max()) >= len(vocab):
            raise ValueError(f"{where}: Vocab codes outside 0..{len(vocab) - 1}")
        return _VocabPart(field.name, vocab, codes)

    def _join_vocabs(self, parts: list[_Block | _VocabPart]) -> list[_Block]:
        """Turn Vocab parts into blocks, joining runs of neighbours with small combined vocabularies."""
        blocks: list[_Block] = []
        run: list[_VocabPart] = []
        for part in [*self._zip_shared_codes(parts), None]:
            if isinstance(part, _VocabPart):
                size = math.prod(len(p.vocab) for p in run) * len(part.vocab)
                if not run or size <= _JOINT_VOCAB_LIMIT:
                    run.append(part)
                    continue
            if run:
                vocab, codes = self._joint(run)
                blocks.append(_Block(vocab.items.take(codes), vocab.width, vocab.lens.take(codes)))
            run = [part] if isinstance(part, _VocabPart) else []
            if isinstance(part, _Block):
                blocks.append(part)
        return blocks

    def _zip_shared_codes(self, parts: list[_Block | _VocabPart]) -> list[_Block | _VocabPart]:
        """Join neighbouring Vocab parts given the same codes array (e.g. the five fields of one instrument) into
        one part, whatever their sizes: its entry i is the parts' entries i, concatenated. Each field costs a
        gather and a scatter over the batch; a zipped run costs one."""
        out: list[_Block | _VocabPart] = []
        run: list[_VocabPart] = []
        for part in [*parts, None]:
            if isinstance(part, _VocabPart) and run and part.codes is run[0].codes:
                run.append(part)
                continue
            if len(run) > 1:
                out.append(self._zipped(run))
            elif run:
                out.append(run[0])
            run = [part] if isinstance(part, _VocabPart) else []
            if isinstance(part, _Block):
                out.append(part)
        return out

    def _zipped(self, run: list[_VocabPart]) -> _VocabPart:
        vocabs = tuple(p.vocab for p in run)
        key = tuple(p.name for p in run)
        cached = self._zipped_vocabs.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], vocabs, strict=True)):
            size = min(len(v) for v in vocabs)  # codes were checked against every part's vocabulary
            zipped = _EncodedVocab.concatenated(None, [(v.matrix()[:size], v.lens[:size]) for v in vocabs])
            self._zipped_vocabs[key] = cached = (vocabs, zipped)
        return _VocabPart("+".join(key), cached[1], run[0].codes)

    def _joint(self, run: list[_VocabPart]) -> tuple[_EncodedVocab, np.ndarray]:
        if len(run) == 1:
            return run[0].vocab, run[0].codes
        parts = tuple(p.vocab for p in run)
        key = tuple(p.name for p in run)
        cached = self._joint_vocabs.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], parts, strict=True)):
            entries = [b"".join(t) for t in itertools.product(*(v.entries() for v in parts))]
            self._joint_vocabs[key] = cached = (parts, _EncodedVocab.pack(None, entries))
        codes = run[0].codes.astype(np.int64)
        for p in run[1:]:
            codes = codes * len(p.vocab) + p.codes
        return cached[1], codes


def _encode_vocab(where: str, field: _Field, values: Sequence[str | None]) -> list[bytes]:
    if field.kind is FieldKind.STRING:
        fast = _encode_strings(field, values)
        if fast is not None:
            return fast
    index = {s: i for i, s in enumerate(field.symbols)}
    encoded = []
    for value in values:
        if value is None:
            if not field.nullable:
                raise ValueError(f"{where}: None in Vocab for a non-nullable field")
            encoded.append(field.null_tag)
            continue
        if not isinstance(value, str):
            raise TypeError(f"{where}: Vocab values must be str or None, got {type(value).__name__}")
        if field.kind is FieldKind.ENUM:
            if value not in index:
                raise ValueError(f"{where}: {value!r} is not one of {list(field.symbols)}")
            body = zigzag_varint(index[value])
        else:
            utf8 = value.encode("utf-8")
            body = zigzag_varint(len(utf8)) + utf8
        encoded.append(field.value_tag + body)
    return encoded


_SHORT_STRING = 4096  # strings shorter than this (in UTF-8 bytes) take the fast path of _encode_strings
_STRING_HEADS: dict[bytes, list[bytes]] = {}  # union tag -> tag + zigzag_varint(length) for every short length


def _encode_strings(field: _Field, values: Sequence[str | None]) -> list[bytes] | None:
    """As `_encode_vocab` for a string field, one comprehension instead of a loop with a varint per entry;
    None when some value is not a plain str (or None, for a nullable field) or is long: the loop handles
    (and reports) those."""
    allowed = {str, type(None)} if field.nullable else {str}
    if not set(map(type, values)) <= allowed:
        return None
    utf8 = [b"" if value is None else value.encode("utf-8") for value in values]
    if max(map(len, utf8), default=0) >= _SHORT_STRING:
        return None
    heads = _STRING_HEADS.get(field.value_tag)
    if heads is None:
        heads = _STRING_HEADS[field.value_tag] = [field.value_tag + zigzag_varint(k) for k in range(_SHORT_STRING)]
    null = field.null_tag
    return [null if value is None else heads[len(b)] + b for value, b in zip(values, utf8, strict=True)]


def _fixed_string_blocks(where: str, field: _Field, data: np.ndarray, null: np.ndarray | None,
                         n: int) -> list[_Block]:
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
        return [_constant(head), _Block(_as_items(matrix), k, k)]
    # one block: the union tag and length, then the string; a null row is its tag alone (the rest is padding
    # that the next field overwrites)
    items = np.empty((n, len(head) + k), dtype=np.uint8)
    items[:, :len(head)] = np.frombuffer(head, dtype=np.uint8)
    items[:, len(head):] = matrix
    items[null, 0] = field.null_tag[0]
    return [_Block(_as_items(items), len(head) + k, np.where(null, len(field.null_tag), len(head) + k))]


def _integer_block(where: str, field: _Field, column: np.ndarray) -> _Block:
    if column.dtype == np.uint64 and column.size and int(column.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: value above the Avro long range")
    if field.kind is FieldKind.INT and column.size:
        low, high = int(column.min()), int(column.max())
        if low < _INT32_MIN or high > _INT32_MAX:
            raise ValueError(f"{where}: value outside the Avro int range")
    matrix, lens = varints(column)
    return _Block(_as_items(matrix), matrix.shape[1], lens)


def _double_block(field: _Field, column: np.ndarray) -> _Block:
    values = np.ascontiguousarray(column, dtype="<f8")
    if not field.nullable:
        return _Block(values.view("V8"), 8, 8)
    null = np.isnan(values)
    matrix = np.empty((len(values), 9), dtype=np.uint8)
    matrix[:, 0] = np.where(null, field.null_tag[0], field.value_tag[0])
    matrix[:, 1:] = values.view(np.uint8).reshape(-1, 8)
    return _Block(_as_items(matrix), 9, np.where(null, 1, 9))


def _merge_fixed_runs(blocks: list[_Block], n: int) -> list[_Block]:
    """Join runs of consecutive fixed-length blocks: copying a column is cheaper than a scatter."""
    merged: list[_Block] = []
    run: list[_Block] = []
    for block in [*blocks, None]:
        if block is not None and isinstance(block.lens, int):
            run.append(block)
            continue
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            width = sum(b.width for b in run)
            matrix = np.empty((n, width), dtype=np.uint8)
            col = 0
            for b in run:
                if b.items.ndim:
                    matrix[:, col : col + b.width] = b.items.view(np.uint8).reshape(n, b.width)
                else:
                    matrix[:, col : col + b.width] = np.frombuffer(b.items.tobytes(), dtype=np.uint8)
                col += b.width
            merged.append(_Block(_as_items(matrix), width, width))
        run = []
        if block is not None:
            merged.append(block)
    return merged


def _assemble(blocks: list[_Block], n: int) -> list[bytes]:
    blocks = _merge_fixed_runs(blocks, n)
    row_len = np.zeros(n, dtype=np.int64)
    for block in blocks:
        row_len += block.lens
    slack = max(block.width for block in blocks)  # room for the last field's padding to spill into
    stride = row_len + slack
    ends = np.cumsum(stride)
    starts = ends - stride
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    pos = starts.copy()
    for block in blocks:
        if block.width == 1:
            out[pos] = block.items.view(np.uint8) if block.items.ndim else block.items.tobytes()[0]
        else:
            # overlapping view: item j is the `width` bytes starting at out[j]
            view = np.ndarray(
                (out.size - block.width + 1,), dtype=block.items.dtype, buffer=out, strides=(1,)
            )
            view[pos] = block.items
        pos += block.lens
    buf = out.tobytes()
    return [buf[s:e] for s, e in zip(starts.tolist(), (starts + row_len).tolist(), strict=True)]
