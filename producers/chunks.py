"""The stream as chunks ready to send: generated, cut to the run's range, encoded ahead of the sender.

`prepared_chunks(plan)` yields `Chunk`s of up to `GENERATION_BATCH` events in stream order, each with
what the sender needs and nothing more: the events' customers, event times and label delays, and (in
simulated time) their Transaction, Label and revision Label values already encoded. In live time the event time is the
wall clock at send, so the sender encodes and the chunk carries the whole rows instead. It is a
module-level function of a picklable `ChunkPlan` so that it can run in a child process
(`producers.prefetch.ProcessPrefetch`) as well as on a thread; the records are the same either way.

Resuming (`from_seq=K`): the chunk holding position K also carries `resumed`, the labels of the skipped
positions < K that were still pending after position K-1 (see `producers.producer`).

The stream's first chunk of a simulated-time plan is kept in the cache of built worlds
(`producers.world_cache`, `cached_head` / `store_head`): the next run of the same plan sends it at once
while its generator makes the first block again, and does not send the generator's copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers import world_cache
from synfinance.producers.events import EventColumns
from synfinance.producers.kafka import traceparents
from synfinance.producers.pacing import Columns
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream, World, world_key
from synfinance.schemas.codec import Codec

__all__ = ["GENERATION_BATCH", "Chunk", "ChunkPlan", "cached_head", "head_key", "prepared_chunks", "store_head"]

GENERATION_BATCH = 10_000


@dataclass
class Chunk:
    """Up to GENERATION_BATCH consecutive events of the stream, from position `first`."""

    first: int
    customer: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    label_delay_us: npt.NDArray[np.int64]
    revision_delay_us: npt.NDArray[np.int64]  # -1: the first label is final
    values: list[bytes] | None = None  # encoded Transaction records (simulated time)
    labels: np.ndarray | None = None  # encoded first Label records, an object array (simulated time)
    revisions: np.ndarray | None = None  # encoded revision Labels of the rows with revision_delay_us >= 0
    events: EventColumns | None = None  # the rows themselves (live time: encoded at send)
    resumed: Columns | None = None  # resume: labels of the skipped rows before `first` still pending
    resumed_at: int = 0  # event time of the last skipped row

    def __len__(self) -> int:
        return len(self.time_us)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (from the generator process): the encoded records as one buffer and their lengths, which
        pickle as two copies instead of an object per record."""
        state = dict(self.__dict__)
        for name in ("values", "labels", "revisions"):
            records = state[name]
            if records is not None:
                state[name] = (b"".join(records), np.fromiter(map(len, records), np.int64, len(records)))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("values", "labels", "revisions"):
            if state[name] is not None:
                blob, lengths = state[name]
                ends = np.cumsum(lengths).tolist()
                starts = [0, *ends[:-1]] if ends else []  # a chunk may hold no revision (or none at all)
                records = [blob[a:b] for a, b in zip(starts, ends, strict=True)]
                if name != "values":
                    labels = np.empty(len(records), dtype=object)
                    labels[:] = records
                    state[name] = labels
                else:
                    state[name] = records
        self.__dict__.update(state)


@dataclass(frozen=True)
class ChunkPlan:
    """What to generate: the stream, its world, where to stop and resume, and whether to encode."""

    stream: StreamConfig
    world: World
    events: int | None = None  # stop at this position (exclusive); None: endless
    from_seq: int = 0
    encode: bool = True  # False in live time
    codec: Codec = field(default_factory=Codec)  # the framing of the encoded values

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for the generator process: a world the cache holds goes as its key (the child loads it in
        tens of milliseconds) rather than as megabytes through the pipe."""
        state = dict(self.__dict__)
        if world_cache.has_entry(world_key(self.stream)):
            state["world"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["world"] is None:
            state = {**state, "world": World.cached(state["stream"])}
        self.__dict__.update(state)


def head_key(plan: ChunkPlan) -> dict[str, Any] | None:
    """The cache key of the stream's first chunk, when that chunk is a pure function of the plan: simulated
    time (encoded records; live records carry the wall clock), from the stream's start (not a resume)."""
    if not plan.encode or plan.from_seq:
        return None
    length = GENERATION_BATCH if plan.events is None else min(plan.events, GENERATION_BATCH)
    if length <= 0:
        return None
    return {"head": length, "world": world_key(plan.stream), "shard": list(plan.stream.shard),
            "transaction": plan.codec.prefix("transaction").hex(), "label": plan.codec.prefix("label").hex()}


def cached_head(plan: ChunkPlan) -> Chunk | None:
    """The stream's first chunk as an earlier run of the same plan generated it, if the cache holds it: a
    run sends it while its generator is still making the first block (~0.9 s for the default world)."""
    key = head_key(plan)
    found = None if key is None else world_cache.load_entry(key, (Chunk,))
    return found if isinstance(found, Chunk) and found.first == 0 and found.values is not None else None


def store_head(plan: ChunkPlan, chunk: Chunk) -> None:
    """Keep the stream's first chunk (as generated) for the next run of the same plan."""
    key = head_key(plan)
    if key is not None and chunk.first == 0:
        world_cache.store_entry(key, chunk)


def prepared_chunks(plan: ChunkPlan) -> Iterator[Chunk]:
    """The chunks of `plan`, in stream order. Uses one `RecordEncoder` (its vocabulary caches are not
    shared between threads: whoever runs this owns it)."""
    encoder = RecordEncoder(plan.world, plan.codec.prefix("transaction"), plan.codec.prefix("label"))
    trace_rng = np.random.default_rng()  # traceparent is random by design (not in the determinism contract)
    start, end, resume = 0, plan.events, plan.from_seq
    stream = TransactionStream(plan.stream, plan.world)
    for events in stream.batches(GENERATION_BATCH) if end is None or end > 0 else ():
        if end is not None:
            events = events.slice(0, min(len(events), end - start))
        skip = min(max(resume - start, 0), len(events))
        rows = events.slice(skip, len(events))
        chunk = Chunk(start + skip, rows.customer, rows.time_us, rows.label_delay_us, rows.revision_delay_us)
        if skip:
            chunk.resumed, chunk.resumed_at = _still_pending(encoder, events.slice(0, skip), start, trace_rng)
        if not plan.encode:
            chunk.events = rows
        elif len(rows):
            chunk.values = encoder.encode_transactions(rows)
            chunk.labels = _objects(encoder.encode_labels(rows))
            chunk.revisions = _objects(encoder.encode_revisions(rows)[1])
        yield chunk
        start += len(events)
        if end is not None and start >= end:
            return


def _objects(records: list[bytes]) -> np.ndarray:
    out = np.empty(len(records), dtype=object)
    out[:] = records
    return out


def _still_pending(encoder: RecordEncoder, part: EventColumns, start: int,
                   rng: np.random.Generator) -> tuple[Columns, int]:
    """Resume: the labels (first ones and revisions) of not-resent transactions still pending after them."""
    now = int(part.time_us[-1])
    label_time = part.time_us + part.label_delay_us
    pending = np.flatnonzero(label_time > now)  # the rest went out before (or with) these transactions
    revised, revision_values = encoder.encode_revisions(part)
    revision_time = part.time_us[revised] + part.revision_delay_us[revised]
    later = revision_time > now
    rows = part.take(pending)
    values = _objects(encoder.encode_labels(rows) if len(rows) else [])
    traces = traceparents(rng, len(pending) + int(later.sum()))
    return {"label_time": np.concatenate([label_time[pending], revision_time[later]]),
            "position": start + np.concatenate([pending, revised[later]]),
            "customer": np.concatenate([rows.customer, part.customer[revised[later]]]),
            "value": np.concatenate([values, _objects([v for v, keep in zip(revision_values, later.tolist(),
                                                                          strict=True) if keep])]),
            "trace": traces}, now
