"""A table of millions of small fixed-width rows, found by a 64-bit key, dropped oldest first.

For what a Python dict would hold at ~150 bytes a row of overhead alone (a key object, a value object, a
hash slot): the transactions the merchant-risk replica has joined and the model inputs a worker keeps,
both for the label revision window (months of event time). Rows are numpy columns in chunks of
`chunk_rows`, appended in batches. A full chunk is sealed: its keys are sorted once and found by
bisection (8 bytes of key + 2 or 4 of offset a row); the chunk being filled is searched linearly. A
lookup costs a bisection per chunk, a few µs each: cheap for rows looked up rarely (a label revision),
not for a per-event dict. Callers keep time windows and count caps by dropping the oldest chunk
(`pop_oldest`), so a window is kept to within one chunk.

Keys are the caller's (`key_of`, Python's hash of a transaction id, is randomised per process, so the
table lives in one process: a copy that must survive one keeps the ids, as `processors.revisions`
does). Of two rows with the same key, `find` gives the newer; two ids whose hashes collide (about n²/2⁶⁵
for n rows: 10⁻⁷ at two million) would be taken for one another.

>>> table = KeyedChunks({"event_time": ("<i8", ()), "x": ("<f2", (2,))}, chunk_rows=2)
>>> table.append(np.array([key_of("T1"), key_of("T2"), key_of("T3")]),
...              event_time=np.array([10, 20, 30]), x=np.ones((3, 2)))
>>> row = table.find(key_of("T2"))
>>> int(row.get("event_time")), len(table), len(table.chunks)
(20, 3, 2)
>>> table.pop_oldest(), table.find(key_of("T2")), len(table)
(2, None, 1)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

# name -> (numpy dtype, shape of one row's value: () for a scalar, (k,) for k values)
ColumnSpecs = Mapping[str, tuple[str, tuple[int, ...]]]


def key_of(txn_id: str) -> int:
    """The key of a transaction id in this process (str hashes are cached on the str object)."""
    return hash(txn_id)


def keys_of(txn_ids: list[str]) -> npt.NDArray[np.int64]:
    """`key_of` of each id, as an array (`hash` mapped directly: no Python call per id)."""
    return np.fromiter(map(hash, txn_ids), np.int64, len(txn_ids))


class Chunk:
    """Up to `capacity` rows; `keys` while filling, `sorted_keys`/`sorted_offsets` once sealed."""

    __slots__ = ("capacity", "columns", "keys", "size", "sorted_keys", "sorted_offsets")

    def __init__(self, specs: ColumnSpecs, capacity: int) -> None:
        # np.empty: pages of a chunk are committed as rows fill them, not on allocation
        self.columns = {name: np.empty((capacity, *shape), dtype) for name, (dtype, shape) in specs.items()}
        self.keys: npt.NDArray[np.int64] | None = np.empty(capacity, np.int64)
        self.size = 0
        self.capacity = capacity
        self.sorted_keys: npt.NDArray[np.int64] | None = None
        self.sorted_offsets: npt.NDArray[np.unsignedinteger[Any]] | None = None

    def seal(self) -> None:
        assert self.keys is not None
        order = np.argsort(self.keys[:self.size], kind="stable")  # stable: the newest of equal keys sorts last
        self.sorted_keys = self.keys[order]
        self.sorted_offsets = order.astype(np.uint16 if self.capacity <= 2**16 else np.uint32)
        self.keys = None

    def find(self, key: int) -> int:
        """Offset of the newest row with `key`, or -1."""
        if self.keys is not None:
            hits = np.flatnonzero(self.keys[:self.size] == key)
            return int(hits[-1]) if len(hits) else -1
        assert self.sorted_keys is not None and self.sorted_offsets is not None
        i = int(np.searchsorted(self.sorted_keys, key, side="right")) - 1
        return int(self.sorted_offsets[i]) if i >= 0 and self.sorted_keys[i] == key else -1

    def max(self, column: str) -> Any:
        return self.columns[column][:self.size].max() if self.size else None

    @property
    def nbytes(self) -> int:
        arrays = [*self.columns.values(), self.keys, self.sorted_keys, self.sorted_offsets]
        return sum(a.nbytes for a in arrays if a is not None)


class RowRef(NamedTuple):
    """One row of a chunk: read and change its columns in place."""

    chunk: Chunk
    offset: int

    def get(self, column: str) -> Any:
        return self.chunk.columns[column][self.offset]

    def set(self, column: str, value: Any) -> None:
        self.chunk.columns[column][self.offset] = value


class KeyedChunks:
    """Rows appended in batches, found by key (newest first), dropped a chunk at a time, oldest first."""

    def __init__(self, columns: ColumnSpecs, chunk_rows: int = 2**16) -> None:
        self.specs = dict(columns)
        self.chunk_rows = chunk_rows
        self.chunks: deque[Chunk] = deque()
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def append(self, keys: npt.NDArray[np.int64], **values: npt.ArrayLike) -> None:
        """Add rows: `keys` and one array per column, all of the same length."""
        arrays = {name: np.asarray(values[name]) for name in self.specs}
        n, start = len(keys), 0
        while start < n:
            chunk = self.chunks[-1] if self.chunks and self.chunks[-1].keys is not None else None
            if chunk is None:
                chunk = Chunk(self.specs, self.chunk_rows)
                self.chunks.append(chunk)
            take = min(chunk.capacity - chunk.size, n - start)
            into, out = slice(chunk.size, chunk.size + take), slice(start, start + take)
            assert chunk.keys is not None
            chunk.keys[into] = keys[out]
            for name, array in arrays.items():
                chunk.columns[name][into] = array[out]
            chunk.size += take
            start += take
            if chunk.size == chunk.capacity:
                chunk.seal()
        self._rows += n

    def find(self, key: int) -> RowRef | None:
        for chunk in reversed(self.chunks):
            offset = chunk.find(key)
            if offset >= 0:
                return RowRef(chunk, offset)
        return None

    def oldest(self) -> Chunk | None:
        return self.chunks[0] if self.chunks else None

    def pop_oldest(self) -> int:
        """Drop the oldest chunk; returns how many rows went."""
        if not self.chunks:
            return 0
        size = self.chunks.popleft().size
        self._rows -= size
        return size

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the rows (a chunk being filled counts in full)."""
        return sum(chunk.nbytes for chunk in self.chunks)
