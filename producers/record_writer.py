"""Where each record of a produce run goes: its topic, key, timestamp, headers and traceparent.

`RecordWriter` hands a run's records to its `RecordOutlet` (`producers.run_stats`); the run
(`producers.producer`) decides when. Keys: a transaction and its labels are keyed by the customer id, a
customer or merchant by its own id, the RunInfo record by the stream id.

Headers: `synfin-seq` is the record's position in this process's stream: for a transaction its index
in the (shard's) stream, `--from-seq` included; a label carries its transaction's position; customers
and merchants their ordinal. With `--shard i/N` positions count the shard's own stream.

Header sets (`RunConfig.headers`): `full` gives every record `synfin-seed`, `synfin-seq`, `synfin-schema` and
`traceparent`; `lean` only `synfin-seq` and `traceparent`, the other two being the same on every record of a
topic. Keys, values and timestamps do not depend on the header set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers import world_cache
from synfinance.producers.kafka import RecordHeaders, traceparents
from synfinance.producers.pacing import Columns
from synfinance.producers.run_config import RunConfig, run_info
from synfinance.producers.run_stats import RecordOutlet
from synfinance.producers.stream import World, world_key
from synfinance.schemas.codec import fingerprint

SEND_BATCH = 10_000  # labels and population records per send call


class RecordWriter:
    """Sends a run's RunInfo record, population, transactions and labels, each as its kind is sent."""

    def __init__(self, config: RunConfig, outlet: RecordOutlet, world: World, live: bool) -> None:
        self.config, self.outlet, self.world, self.live = config, outlet, world, live
        self.codec = config.codec
        self.keys = np.array([cid.encode() for cid in world.customers.ids], dtype=np.bytes_)
        seed = config.stream.seed
        self.headers = {name: RecordHeaders(seed, name, config.headers)
                        for name in ("transaction", "label", "customer", "merchant", "run_info")}
        self._trace_rng = np.random.default_rng()  # traceparent is random by design (not in the contract)

    def traces(self, n: int) -> npt.NDArray[np.bytes_]:
        """`n` fresh traceparents: a label shares its transaction's, one trace from payment to ground truth."""
        return traceparents(self._trace_rng, n)

    def run_info(self, at_ms: int) -> None:
        value = self.codec.encode("run_info", run_info(self.config))
        self.outlet.send(self.config.topics.runs, [value], [self.config.stream.stream_id.encode()], [at_ms],
                         self.headers["run_info"], [0], self.traces(1).tolist())

    def population(self, members: Sequence[int], updated_us: int, between: Callable[[], None]) -> None:
        """The customers `members` and (shard 0 only) every merchant, calling `between` after each send."""
        world, shard = self.world, self.config.stream.shard
        # each shard owns its customers; shard 0 alone sends the merchants, so shards union to one run
        for name, population, ordinals, topic in (
                ("customer", world.customers, members, self.config.topics.customers),
                ("merchant", world.merchants, range(len(world.merchants)) if shard[0] == 0 else range(0),
                 self.config.topics.merchants)):
            encoded = self._population_values(name, population, ordinals, updated_us)
            for start in range(0, len(ordinals), SEND_BATCH):
                part = ordinals[start:start + SEND_BATCH]
                keys = [population.ids[k].encode() for k in part]
                self.outlet.send(topic, encoded[start:start + SEND_BATCH], keys, [updated_us // 1000] * len(part),
                                 self.headers[name], part, self.traces(len(part)).tolist())
                between()

    def _population_values(self, name: str, population: Any, ordinals: Sequence[int], updated_us: int) -> list[bytes]:
        """The encoded records of `ordinals`; in simulated time from the world cache when a run with the same
        world, shard and framing encoded them before (live records carry the wall clock: encoded each time)."""
        def encode() -> list[bytes]:
            return [self.codec.encode(name, population.record(k, updated_us)) for k in ordinals]

        if self.live:
            return encode()
        key = {"population": name, "world": world_key(self.config.stream), "shard": list(self.config.stream.shard),
               "updated_us": updated_us, "fingerprint": fingerprint(name).hex(),
               "schema_id": self.codec.confluent_id(name)}
        return world_cache.cached(key, encode, allowed=())

    def transactions(self, values: list[bytes], keys: list[bytes], timestamps: list[int], positions: Iterable[int],
                     traces: npt.NDArray[np.bytes_]) -> None:
        self.outlet.send(self.config.topics.transactions, values, keys, timestamps, self.headers["transaction"],
                         positions, traces.tolist())

    def labels(self, due: Columns) -> None:
        """The labels `due` (a LabelSchedule's release), keyed by their customer, stamped with their label time."""
        for a in range(0, len(due["position"]), SEND_BATCH):
            b = a + SEND_BATCH
            self.outlet.send(self.config.topics.labels, due["value"][a:b].tolist(),
                             self.keys[due["customer"][a:b]].tolist(), (due["label_time"][a:b] // 1000).tolist(),
                             self.headers["label"], due["position"][a:b].tolist(), due["trace"][a:b].tolist())
