"""Dictionary-encoded columns (`schemas.batch.Vocab`): each distinct string or enum symbol encoded once,
so a field's block is a gather of its codes (see `schemas.batch`).

`Vocabularies` keeps one encoder's encoded vocabularies between batches and turns a record's Vocab parts
into blocks, joining neighbours to save scatters: parts given the same codes array are zipped into one
(whatever their sizes), and runs of small vocabularies into their product.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synfinance.schemas.batch_blocks import Block, SchemaField
from synfinance.schemas.fields import FieldKind
from synfinance.schemas.varints import zigzag_varint

__all__ = ["EncodedVocab", "VocabPart", "Vocabularies", "encode_vocab"]

# Consecutive Vocab fields whose combined vocabulary has at most this many entries are encoded as one
# field (e.g. channel x entry_mode x transaction_type): each field costs a scatter over the whole batch.
_JOINT_VOCAB_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class EncodedVocab:
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
    def pack(cls, values: Sequence[str | None] | None, encoded: list[bytes]) -> EncodedVocab:
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        return cls._place(values, lens, np.frombuffer(b"".join(encoded), dtype=np.uint8))

    @classmethod
    def concatenated(cls, values: Sequence[str | None] | None,
                     pieces: list[tuple[np.ndarray, np.ndarray]]) -> EncodedVocab:
        """Entry i is, for each (matrix, lens) piece in turn, the first lens[i] bytes of the matrix's row i."""
        total = np.zeros(len(pieces[0][1]), dtype=np.int64)
        for _, lens in pieces:
            total += lens
        matrix = np.concatenate([m for m, _ in pieces], axis=1)
        used = np.concatenate([np.arange(m.shape[1]) < lens[:, None] for m, lens in pieces], axis=1)
        return cls._place(values, total, matrix[used])  # C order: row by row, pieces in turn

    @classmethod
    def _place(cls, values: Sequence[str | None] | None, lens: np.ndarray, flat: np.ndarray) -> EncodedVocab:
        """Entries whose bytes, joined in order, are `flat`, padded with NULs to the widest without a Python
        ljust per entry (instrument or device vocabularies hold ~10^5 entries): a boolean mask assignment
        fills the True cells in C order, i.e. row by row, left to right, which is exactly the joined order."""
        width = int(lens.max(initial=1)) or 1
        matrix = np.zeros((len(lens), width), dtype=np.uint8)
        matrix[np.arange(width) < lens[:, None]] = flat
        return cls(values, matrix.view(f"V{width}").reshape(len(lens)), lens, width)


@dataclass(frozen=True, slots=True)
class VocabPart:
    """A Vocab column, kept apart until neighbouring small vocabularies have been joined."""

    name: str
    vocab: EncodedVocab
    codes: np.ndarray


class Vocabularies:
    """One encoder's encoded vocabularies: by field, and by zipped or joined run of fields."""

    def __init__(self) -> None:
        self._by_field: dict[str, EncodedVocab] = {}
        self._joint_vocabs: dict[tuple[str, ...], tuple[tuple[EncodedVocab, ...], EncodedVocab]] = {}
        self._zipped_vocabs: dict[tuple[str, ...], tuple[tuple[EncodedVocab, ...], EncodedVocab]] = {}

    def part(self, where: str, field: SchemaField, codes: np.ndarray, values: Sequence[str | None],
             n: int) -> VocabPart:
        """A Vocab column (`codes` into `values`) of `field`; its vocabulary is encoded again only when `values`
        is another object or has grown."""
        codes = np.asarray(codes)
        if codes.shape != (n,) or codes.dtype.kind not in "iu":
            raise ValueError(f"{where}: Vocab codes must be an integer array of shape ({n},)")
        vocab = self._by_field.get(field.name)
        if vocab is None or vocab.values is not values or len(vocab) != len(values):
            vocab = EncodedVocab.pack(values, encode_vocab(where, field, values))
            self._by_field[field.name] = vocab
        if int(codes.min()) < 0 or int(codes.max()) >= len(vocab):
            raise ValueError(f"{where}: Vocab codes outside 0..{len(vocab) - 1}")
        return VocabPart(field.name, vocab, codes)

    def blocks(self, parts: list[Block | VocabPart]) -> list[Block]:
        """Turn Vocab parts into blocks, joining runs of neighbours with small combined vocabularies."""
        blocks: list[Block] = []
        run: list[VocabPart] = []
        for part in [*self._zip_shared_codes(parts), None]:
            if isinstance(part, VocabPart):
                size = math.prod(len(p.vocab) for p in run) * len(part.vocab)
                if not run or size <= _JOINT_VOCAB_LIMIT:
                    run.append(part)
                    continue
            if run:
                vocab, codes = self._joint(run)
                blocks.append(Block(vocab.items.take(codes), vocab.width, vocab.lens.take(codes)))
            run = [part] if isinstance(part, VocabPart) else []
            if isinstance(part, Block):
                blocks.append(part)
        return blocks

    def _zip_shared_codes(self, parts: list[Block | VocabPart]) -> list[Block | VocabPart]:
        """Join neighbouring Vocab parts given the same codes array (e.g. the five fields of one instrument) into
        one part, whatever their sizes: its entry i is the parts' entries i, concatenated. Each field costs a
        gather and a scatter over the batch; a zipped run costs one."""
        out: list[Block | VocabPart] = []
        run: list[VocabPart] = []
        for part in [*parts, None]:
            if isinstance(part, VocabPart) and run and part.codes is run[0].codes:
                run.append(part)
                continue
            if len(run) > 1:
                out.append(self._zipped(run))
            elif run:
                out.append(run[0])
            run = [part] if isinstance(part, VocabPart) else []
            if isinstance(part, Block):
                out.append(part)
        return out

    def _zipped(self, run: list[VocabPart]) -> VocabPart:
        vocabs = tuple(p.vocab for p in run)
        key = tuple(p.name for p in run)
        cached = self._zipped_vocabs.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], vocabs, strict=True)):
            size = min(len(v) for v in vocabs)  # codes were checked against every part's vocabulary
            zipped = EncodedVocab.concatenated(None, [(v.matrix()[:size], v.lens[:size]) for v in vocabs])
            self._zipped_vocabs[key] = cached = (vocabs, zipped)
        return VocabPart("+".join(key), cached[1], run[0].codes)

    def _joint(self, run: list[VocabPart]) -> tuple[EncodedVocab, np.ndarray]:
        if len(run) == 1:
            return run[0].vocab, run[0].codes
        parts = tuple(p.vocab for p in run)
        key = tuple(p.name for p in run)
        cached = self._joint_vocabs.get(key)
        if cached is None or any(a is not b for a, b in zip(cached[0], parts, strict=True)):
            entries = [b"".join(t) for t in itertools.product(*(v.entries() for v in parts))]
            self._joint_vocabs[key] = cached = (parts, EncodedVocab.pack(None, entries))
        codes = run[0].codes.astype(np.int64)
        for p in run[1:]:
            codes = codes * len(p.vocab) + p.codes
        return cached[1], codes


def encode_vocab(where: str, field: SchemaField, values: Sequence[str | None]) -> list[bytes]:
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


def _encode_strings(field: SchemaField, values: Sequence[str | None]) -> list[bytes] | None:
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
