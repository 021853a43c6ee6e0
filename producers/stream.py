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
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from producers.arrivals import ArrivalGenerator, strictly_increasing
from producers.customers import Customers, build_customers
from producers.events import EventColumns
from producers.labels import LabelDelays
from producers.merchants import MerchantPools, Merchants, build_merchants
from producers.scenarios.actors import FraudActors
from producers.scenarios.engine import FraudEngine
from producers.seeding import Kind, Purpose, entity_rng
from producers.timeline import DEFAULT_START, BlockCurves, parse_start

MAX_CUSTOMERS = 2_000_000  # arrival keys pack the customer ordinal into 21 bits
DEFAULT_FRAUD_RATE = 0.02    # share of transactions labelled fraud (a training stream, not the ~0.1% of production)
DEFAULT_ANOMALY_RATE = 0.02  # share labelled as legitimate anomalies


@dataclass(frozen=True)
class StreamConfig:
    """Everything that determines the stream's content (with the generator version)."""

    seed: int = 42
    customers: int = 10_000
    merchants: int = 2_000
    start: str = DEFAULT_START
    shard: tuple[int, int] = (0, 1)
    fraud_rate: float = DEFAULT_FRAUD_RATE
    anomaly_rate: float = DEFAULT_ANOMALY_RATE
    label_delay: str = "default"

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
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ValueError(f"--fraud-rate must be in [0, 0.5) (got {self.fraud_rate})")
        if not 0.0 <= self.anomaly_rate < 0.5:
            raise ValueError(f"--anomaly-rate must be in [0, 0.5) (got {self.anomaly_rate})")
        LabelDelays.parse(self.label_delay)

    @property
    def delays(self) -> LabelDelays:
        return LabelDelays.parse(self.label_delay)

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
        self.actors = FraudActors.build(config.seed, self.customers, self.merchants)


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
        config, world = self.config, self.world
        delays = config.delays
        rngs = [entity_rng(config.seed, Kind.CUSTOMER, int(k), Purpose.ARRIVALS) for k in self.members]
        # anomalies are drawn on legitimate rows: scale so their share of ALL rows is anomaly_rate
        arrivals = ArrivalGenerator(world.customers, world.merchants, world.pools, self.members, rngs,
                                    config.start_us, config.anomaly_rate / (1.0 - config.fraud_rate), delays.legit)
        engine = FraudEngine(config.seed, world.customers, world.merchants, world.pools, world.actors, self.members,
                             config.fraud_rate, delays)
        seq = np.zeros(len(self.members), dtype=np.int64)
        index, count = config.shard
        block = 0
        while True:
            curves = BlockCurves.for_block(config.start_us, block)
            legit = arrivals.block(curves)
            fraud = engine.block(block, curves, arrivals.extra_heads, legit)
            rows = EventColumns.concat([legit, fraud]) if len(fraud) else legit
            if len(fraud):
                rows = rows.take(np.argsort((rows.customer << 42) + (rows.time_us - curves.start_us), kind="stable"))
                rows.time_us = strictly_increasing(rows.customer, rows.time_us)
            position = (rows.customer - index) // count
            per_member = np.bincount(position, minlength=len(self.members))
            rows.seq = seq[position] + np.arange(len(rows)) - np.repeat(np.cumsum(per_member) - per_member, per_member)
            seq += per_member
            yield rows.grouped_in_time_order()
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
