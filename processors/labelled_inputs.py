"""Model inputs of labelled transactions, kept so that a label revision can be learned (SPEC §4).

A transaction's first label (revision 0, hours to days after the event) takes its input out of the
customer's pending state and the model learns it; a later revision, typically a fraud first confirmed
legitimate and charged back 30-90 days after the event, is learned as a correction, which needs the
input the transaction was scored with. `LabelledInputs` keeps, for one owned partition, every labelled
transaction's input row, its score (to move it in the prequential AUCs, exactly: kept as float64), the
verdict applied and whether the model learned it, until `max_label_delay_us` of event time after its
event (`expire`), or fewer rows under a count cap (`evict_oldest`).

Rows are compact: 50 inputs as float16 and `amount_zscore` as float32 (the one input without a bound in
practice: a customer with near-constant amounts gives z-scores beyond float16's 65504). float16 keeps 11
significant bits (relative error <= 2^-11 = 4.9e-4, absolute <= 6e-8 below 6e-5; counts up to 2048,
flags and one-hot inputs exact), finer than one SGD step can tell. A row costs 135 bytes with its index
(`processors.keyed_chunks`; 1M held rows: +145 MB RSS), against ~490 for a dict of float64 rows by id.

Restarts and rebalances: every change is also written to the compacted `<group>-labelled-inputs` topic,
partitioned like the transactions, in the worker's Kafka transaction, so what a worker restores matches
the offsets, customer states and model it resumes from. A record holds the rows one commit added (at
most `RECORD_ROWS`) or the revisions it applied, under a per-partition sequence key; once every row it
mentions is out of the window it is tombstoned, so the topic holds the window and compaction drops the
rest. Record values are pickles of plain values, read with the unpickler of `processors.state`.

>>> import struct
>>> from synfinance.processors.model_input import COLUMNS
>>> inputs = LabelledInputs()
>>> row = [0.5] * len(COLUMNS)
>>> inputs.add([("T1", 100, 0.25, 0, 0, struct.pack(f"<{len(COLUMNS)}d", *row))])
>>> held = inputs.find("T1")
>>> held.is_fraud, held.revision, held.x().tolist() == row
(False, 0, True)
>>> inputs.update(held, is_fraud=True, learned=True, revision=1)
>>> restored = LabelledInputs.restore(inputs.drain())
>>> restored.find("T1").is_fraud, restored.find("T1").revision, len(restored)
(True, 1, 1)
"""

from __future__ import annotations

import heapq
import pickle
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.processors.keyed_chunks import KeyedChunks, RowRef, key_of, keys_of
from synfinance.processors.model_input import COLUMNS
from synfinance.processors.state import plain_loads

FLAG_FRAUD, FLAG_LEARNED = 1, 2
RECORD_ROWS = 2_048  # rows per record: ~300 kB, well under Kafka's default 1 MB message limit
FORMAT_VERSION = 1
_WIDE = np.array([COLUMNS.index("amount_zscore")])
_NARROW = np.array([i for i in range(len(COLUMNS)) if i not in _WIDE])
_F16_MAX = float(np.finfo(np.float16).max)
_LAYOUT = zlib.crc32(",".join(COLUMNS).encode())  # rows of another model input are not restored
SPECS = {"event_time": ("<i8", ()), "score": ("<f8", ()), "flags": ("u1", ()), "revision": ("<i4", ()),
         "narrow": ("<f2", (len(_NARROW),)), "wide": ("<f4", (len(_WIDE),))}


@dataclass(frozen=True)
class HeldInput:
    """A held transaction as found: what was applied to it, and its input row."""

    txn_id: str
    ref: RowRef
    event_time: int
    score: float  # NaN: not counted in the prequential AUCs (labelled before it was scored)
    is_fraud: bool
    learned: bool
    revision: int

    def x(self) -> npt.NDArray[np.float64]:
        """The model input row (`COLUMNS` order), as float64."""
        row = np.empty(len(COLUMNS))
        row[_NARROW] = self.ref.get("narrow")
        row[_WIDE] = self.ref.get("wide")
        return row


class LabelledInputs:
    """The labelled inputs of one partition, and the log records that rebuild them."""

    def __init__(self, chunk_rows: int = 2**16) -> None:
        self.table = KeyedChunks(SPECS, chunk_rows)
        self._seq = 0
        self._live: list[tuple[int, bytes]] = []  # heap of (newest event time a record mentions, its key)
        self._added: list[tuple[list[str], dict[str, np.ndarray]]] = []  # since the last `drain`
        self._updated: list[tuple[str, int, int, int]] = []  # (txn id, flags, revision, event time)
        self._tombstones: list[bytes] = []

    def __len__(self) -> int:
        return len(self.table)

    @property
    def nbytes(self) -> int:
        return self.table.nbytes

    # -- rows -------------------------------------------------------------------------------------

    def add(self, entries: list[tuple[str, int, float, int, int, bytes]]) -> None:
        """Keep labelled transactions: (id, event time, score, flags (`FLAG_*`), revision applied, input
        row as float64 bytes in `COLUMNS` order) each; best a commit's worth at a time."""
        ids, event_times, scores, flags, revisions, rows = zip(*entries, strict=True)
        txn_ids = list(ids)
        x = np.frombuffer(b"".join(rows), np.float64).reshape(len(txn_ids), len(COLUMNS))
        columns = {"event_time": np.array(event_times, np.int64), "score": np.array(scores, np.float64),
                   "flags": np.array(flags, np.uint8), "revision": np.array(revisions, np.int32),
                   # clipped: an input past float16's range (none has one in practice) stays finite
                   "narrow": np.clip(x[:, _NARROW], -_F16_MAX, _F16_MAX).astype(np.float16),
                   "wide": x[:, _WIDE].astype(np.float32)}
        self._append(txn_ids, columns)
        self._added.append((txn_ids, columns))

    def _append(self, txn_ids: list[str], columns: dict[str, np.ndarray]) -> None:
        self.table.append(keys_of(txn_ids), **columns)

    def find(self, txn_id: str) -> HeldInput | None:
        ref = self.table.find(key_of(txn_id))
        if ref is None:
            return None
        flags = int(ref.get("flags"))
        return HeldInput(txn_id, ref, int(ref.get("event_time")), float(ref.get("score")), bool(flags & FLAG_FRAUD),
                         bool(flags & FLAG_LEARNED), int(ref.get("revision")))

    def update(self, held: HeldInput, is_fraud: bool, learned: bool, revision: int) -> None:
        """Record that a revision was applied to `held`: its verdict now, and whether the model learned it."""
        flags = FLAG_FRAUD * is_fraud | FLAG_LEARNED * learned
        held.ref.set("flags", flags)
        held.ref.set("revision", revision)
        self._updated.append((held.txn_id, flags, revision, held.event_time))

    def expire(self, before_us: int) -> int:
        """Drop rows of transactions older than `before_us` (a chunk at a time: the newest row of a chunk
        decides) and tombstone the records about them; returns how many rows went."""
        dropped = 0
        while (oldest := self.table.oldest()) is not None and oldest.size and oldest.max("event_time") < before_us:
            dropped += self.table.pop_oldest()
        while self._live and self._live[0][0] < before_us:
            self._tombstones.append(heapq.heappop(self._live)[1])
        return dropped

    def evict_oldest(self) -> int:
        """Drop the oldest chunk of rows (a count cap); their records stay until they age out."""
        return self.table.pop_oldest()

    def oldest_event_time(self) -> int | None:
        """Event time of the first row of the oldest chunk (what `evict_oldest` would drop)."""
        oldest = self.table.oldest()
        return int(oldest.columns["event_time"][0]) if oldest is not None and oldest.size else None

    # -- the log ----------------------------------------------------------------------------------

    def drain(self) -> list[tuple[bytes, bytes | None]]:
        """(key, value) records of what changed since the last drain; None values are tombstones."""
        out: list[tuple[bytes, bytes | None]] = [(key, None) for key in self._tombstones]
        if self._added:
            ids = [txn_id for batch_ids, _ in self._added for txn_id in batch_ids]
            columns = {name: np.concatenate([c[name] for _, c in self._added]) for name in SPECS}
            for start in range(0, len(ids), RECORD_ROWS):
                part = {name: array[start:start + RECORD_ROWS] for name, array in columns.items()}
                value = (FORMAT_VERSION, _LAYOUT, ids[start:start + RECORD_ROWS],
                         *(part[name].tobytes() for name in SPECS), [])
                out.append((self._key(int(part["event_time"].max())), pickle.dumps(value, protocol=5)))
        if self._updated:
            value = (FORMAT_VERSION, _LAYOUT, [], *(b"" for _ in SPECS), self._updated)
            out.append((self._key(max(u[3] for u in self._updated)), pickle.dumps(value, protocol=5)))
        self._tombstones, self._added, self._updated = [], [], []
        return out

    def _key(self, newest_event_time: int) -> bytes:
        key = b"%016x" % self._seq
        self._seq += 1
        heapq.heappush(self._live, (newest_event_time, key))
        return key

    @classmethod
    def restore(cls, records: Iterable[tuple[bytes, bytes | None]], chunk_rows: int = 2**16) -> LabelledInputs:
        """The inputs that the records (a partition of the topic, in offset order) describe; records of
        another format or model input are skipped (their rows cannot be learned by this model)."""
        latest: dict[bytes, bytes | None] = {}
        for key, value in records:
            latest.pop(key, None)  # a key's last value counts, in the order it was written
            latest[key] = value
        inputs = cls(chunk_rows)
        for key, value in latest.items():
            inputs._seq = max(inputs._seq, int(key, 16) + 1)
            if value is None:
                continue
            body: Any = plain_loads(value)
            if body[:2] != (FORMAT_VERSION, _LAYOUT):
                continue
            ids, *arrays, updates = body[2:]
            newest = -(2**63)
            if ids:
                columns = {name: np.frombuffer(data, dtype).reshape(len(ids), *shape)
                           for (name, (dtype, shape)), data in zip(SPECS.items(), arrays, strict=True)}
                inputs._append(ids, columns)
                newest = int(columns["event_time"].max())
            for txn_id, flags, revision, event_time in updates:
                held = inputs.find(txn_id)
                if held is not None:
                    held.ref.set("flags", flags)
                    held.ref.set("revision", revision)
                newest = max(newest, event_time)
            heapq.heappush(inputs._live, (newest, key))
        return inputs
