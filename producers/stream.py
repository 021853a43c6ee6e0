"""The deterministic transaction stream: population, then blocks of arrivals merged in event time.

`TransactionStream(config)` builds the world (merchants, then customers) and yields `EventColumns`
batches in global event-time order (ties broken by customer, then the customer's own counter). With
`shard=(i, n)` only customers whose ordinal is i mod n are generated; the union of the n shards is
the unsharded stream, record for record. Every record has a stream position (`seq` header), so a
killed run resumes exactly with `skip`.

>>> stream = TransactionStream(StreamConfig(seed=7, customers=50, merchants=20))
>>> batch = next(stream.batches(100))
>>> len(batch), bool((batch.time_us[1:] >= batch.time_us[:-1]).all())
(100, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from producers.arrivals import ArrivalGenerator
from producers.customers import Customers, build_customers
from producers.events import EventColumns
from producers.merchants import MerchantPools, Merchants, build_merchants
from producers.seeding import Kind, Purpose, entity_rng
from producers.timeline import DEFAULT_START, parse_start

MAX_CUSTOMERS = 2_000_000  # arrival keys pack the customer ordinal into 21 bits


@dataclass(frozen=True)
class StreamConfig:
    """Everything that determines the stream's content (with the generator version)."""

    seed: int = 42
    customers: int = 10_000
    merchants: int = 2_000
    start: str = DEFAULT_START
    shard: tuple[int, int] = (0, 1)
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError("--seed must be >= 0")
        if not 1 <= self.customers <= MAX_CUSTOMERS:
            raise ValueError(f"--customers must be between 1 and {MAX_CUSTOMERS:,}")
        if self.merchants < 1:
            raise ValueError("--merchants must be >= 1")
        index, count = self.shard
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {index}/{count}: expected i/N with 0 <= i < N")
        parse_start(self.start)

    @property
    def start_us(self) -> int:
        return parse_start(self.start)


class World:
    """The populations a stream is drawn from (built once per process; shared by every shard)."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.merchants: Merchants = build_merchants(config.seed, config.merchants)
        self.pools = MerchantPools.build(self.merchants)
        self.customers: Customers = build_customers(config.seed, config.customers, self.pools, config.start_us)


class TransactionStream:
    """Blocks of legitimate (and, with scenarios, fraudulent) transactions in event-time order."""

    def __init__(self, config: StreamConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config)

    @cached_property
    def members(self) -> np.ndarray:
        index, count = self.config.shard
        return np.arange(index, self.config.customers, count, dtype=np.int64)

    def blocks(self) -> Iterator[EventColumns]:
        """Endless: block 0, 1, 2, ... each sorted by event time."""
        world = self.world
        rngs = [entity_rng(self.config.seed, Kind.CUSTOMER, int(k), Purpose.ARRIVALS) for k in self.members]
        arrivals = ArrivalGenerator(world.customers, world.merchants, world.pools, self.members, rngs,
                                    self.config.start_us)
        block = 0
        while True:
            yield arrivals.block(block).grouped_in_time_order()
            block += 1

    def batches(self, size: int, skip: int = 0) -> Iterator[EventColumns]:
        """Batches of at most `size` events, after skipping the first `skip` events of the stream."""
        pending: list[EventColumns] = []
        buffered = 0
        for block in self.blocks():
            if skip >= len(block):
                skip -= len(block)
                continue
            if skip:
                block, skip = block.slice(skip, len(block)), 0
            pending.append(block)
            buffered += len(block)
            if buffered < size:
                continue
            merged = EventColumns.concat(pending)
            full = (len(merged) // size) * size
            for start in range(0, full, size):
                yield merged.slice(start, start + size)
            pending = [merged.slice(full, len(merged))] if full < len(merged) else []
            buffered = len(merged) - full
