"""The deterministic transaction stream: population, then blocks of arrivals merged in event time.

`TransactionStream(config)` builds the world (merchants, then customers; or loads it from the cache of
built worlds, `producers.world_cache`) and yields `EventColumns`
batches in global event-time order (ties broken by customer, then the customer's own counter). With
`shard=(i, n)` only customers whose ordinal is i mod n are generated; the union of the n shards is
the unsharded stream, record for record, and a shard's stream is the unsharded one with the other
shards' customers left out (the same order). So the first N events of the unsharded stream are the
first `shard_share(config, N)` events of each shard. Every record has a stream position (`seq`
header), so a killed run resumes exactly with `skip`. A refund names its purchase's `seq`
(`producers.refunds.link`).

>>> stream = TransactionStream(StreamConfig(seed=7, customers=50, merchants=20))
>>> batch = next(stream.batches(100))
>>> len(batch), bool((batch.time_us[1:] >= batch.time_us[:-1]).all())
(100, True)
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from synfinance.producers import refunds, world_cache
from synfinance.producers.anomalies import VELOCITY_SHARE
from synfinance.producers.arrivals import ArrivalGenerator, strictly_increasing
from synfinance.producers.customer_draws import build_customers
from synfinance.producers.customers import MAX_CUSTOMERS, Customers
from synfinance.producers.events import EventColumns, stable_order
from synfinance.producers.ids import stream_id
from synfinance.producers.labels import LabelDelays
from synfinance.producers.merchants import MerchantPools, Merchants, build_merchants
from synfinance.producers.scenarios.actors import FraudActors
from synfinance.producers.scenarios.engine import WARM_UP_BLOCKS, FraudEngine
from synfinance.producers.seeding import GENERATOR_VERSION, Kind, Purpose, entity_rngs
from synfinance.producers.timeline import BLOCK_US, DEFAULT_START, BlockCurves, parse_start
from synfinance.producers.world.calendar import CALENDAR_END_US, CALENDAR_START_US

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
        start_us = parse_start(self.start)
        first, last = CALENDAR_START_US + WARM_UP_BLOCKS * BLOCK_US, CALENDAR_END_US - BLOCK_US
        if not first <= start_us < last:
            raise ValueError(f"--start {self.start} is outside the festival calendar: the supported starts are "
                             f"{_day(first)} to {_day(last - 1)}")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ValueError(f"--fraud-rate must be in [0, 0.5) (got {self.fraud_rate})")
        if not 0.0 <= self.anomaly_rate < 0.5:
            raise ValueError(f"--anomaly-rate must be in [0, 0.5) (got {self.anomaly_rate})")
        LabelDelays.parse(self.label_delay)

    @property
    def stream_id(self) -> str:
        """The six characters in every id of this stream (`producers.ids`): all but the shard decide it."""
        return stream_id(self.seed, self.customers, self.merchants, self.start, self.fraud_rate, self.anomaly_rate,
                         self.label_delay, GENERATOR_VERSION)

    @property
    def delays(self) -> LabelDelays:
        return LabelDelays.parse(self.label_delay)

    @property
    def start_us(self) -> int:
        return parse_start(self.start)


def world_key(config: StreamConfig) -> dict[str, object]:
    """What decides a stream's world (with the generator's code): its key in `producers.world_cache`."""
    return {"generator": GENERATOR_VERSION, "seed": config.seed, "customers": config.customers,
            "merchants": config.merchants, "start_us": config.start_us, "sid": config.stream_id}


class World:
    """The populations a stream is drawn from (built once per process; shared by every shard)."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.sid = config.stream_id
        self.merchants: Merchants = build_merchants(config.seed, config.merchants, self.sid)
        self.pools = MerchantPools.build(self.merchants)
        self.customers: Customers = build_customers(config.seed, config.customers, self.pools, config.start_us,
                                                    self.sid)
        self.actors = FraudActors.build(config.seed, self.customers, self.merchants)

    @classmethod
    def cached(cls, config: StreamConfig) -> World:
        """The world of `config`, loaded from disk when a run built it before (`producers.world_cache`)."""
        world = world_cache.cached(world_key(config), lambda: cls(config),
                                   (cls, StreamConfig, Merchants, MerchantPools, Customers, FraudActors))
        if not isinstance(world, cls):
            return cls(config)
        world.config = config  # the same world serves every shard of the key
        return world


def _day(time_us: int) -> str:
    return str(np.datetime64(time_us, "us").astype("datetime64[D]"))


def merge_by_customer(legit: EventColumns, fraud: EventColumns, start_us: int) -> npt.NDArray[np.int64]:
    """The stable argsort of (customer << 42) + (time - start_us) over the rows of `legit` then `fraud`.

    `legit` comes sorted by that key (grouped by customer, times increasing), so the few fraud rows are
    sorted alone and merged in: a fraud row goes after the legitimate rows whose key is <= its own, as a
    stable sort of the concatenation puts it.
    """
    legit_key = (legit.customer << 42) + (legit.time_us - start_us)
    fraud_key = (fraud.customer << 42) + (fraud.time_us - start_us)
    if len(legit_key) > 1 and not bool((legit_key[1:] >= legit_key[:-1]).all()):
        return np.argsort(np.concatenate([legit_key, fraud_key]), kind="stable")
    fraud_order = np.argsort(fraud_key, kind="stable")
    slots = np.searchsorted(legit_key, fraud_key[fraud_order], side="right") + np.arange(len(fraud_key))
    order = np.empty(len(legit_key) + len(fraud_key), dtype=np.int64)
    is_fraud = np.zeros(len(order), dtype=bool)
    is_fraud[slots] = True
    order[slots] = len(legit_key) + fraud_order
    order[~is_fraud] = np.arange(len(legit_key))
    return order


class TransactionStream:
    """Blocks of legitimate (and, with scenarios, fraudulent) transactions in event-time order."""

    def __init__(self, config: StreamConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World.cached(config)

    @cached_property
    def members(self) -> np.ndarray:
        index, count = self.config.shard
        return np.arange(index, self.config.customers, count, dtype=np.int64)

    def blocks(self) -> Iterator[EventColumns]:
        """Endless: block 0, 1, 2, ... each sorted by event time."""
        config, world = self.config, self.world
        delays = config.delays
        rngs = entity_rngs(config.seed, Kind.CUSTOMER, self.members, Purpose.ARRIVALS)
        # row-level anomalies are drawn on legitimate rows: scale so their share of ALL rows is anomaly_rate, less
        # the velocity bursts' share (planned by the scenario engine)
        row_anomaly_rate = config.anomaly_rate * (1.0 - VELOCITY_SHARE) / (1.0 - config.fraud_rate)
        arrivals = ArrivalGenerator(world.customers, world.merchants, world.pools, members=self.members, rngs=rngs,
                                    start_us=config.start_us, anomaly_rate=row_anomaly_rate, label_delay=delays.first)
        engine = FraudEngine(config.seed, world.customers, world.merchants, world.pools, world.actors,
                             members=self.members, fraud_rate=config.fraud_rate, delays=delays,
                             start_us=config.start_us, anomaly_rate=config.anomaly_rate)
        seq = np.zeros(len(self.members), dtype=np.int64)
        purchases = refunds.Purchases.empty()
        index, count = config.shard
        block = 0
        while True:
            curves = BlockCurves.for_block(config.start_us, block)
            legit = arrivals.block(curves)
            fraud = engine.block(block, curves, arrivals.extra_heads, legit)
            # Rows in (customer, time) order to number each customer's events, then in time order (stable). Only
            # the columns these steps need are permuted; the whole table is gathered once, in the final order.
            rows, by_customer = legit, None
            customer, generated = legit.customer, legit.time_us
            times = generated
            if len(fraud):
                rows = EventColumns.concat([legit, fraud])
                by_customer = merge_by_customer(legit, fraud, curves.start_us)
                customer = rows.customer[by_customer]
                generated = rows.time_us[by_customer]
                times = strictly_increasing(customer, generated)
            position = (customer - index) // count
            per_member = np.bincount(position, minlength=len(self.members))
            numbers = seq[position] + np.arange(len(rows)) - np.repeat(np.cumsum(per_member) - per_member, per_member)
            seq += per_member
            # each refund's purchase by (customer, time as generated): in this block or the end of the last one
            purchases = refunds.link(rows, order=by_customer, customer=customer, times=generated, seq=numbers,
                                     carried=purchases, block_start=curves.start_us,
                                     block_end=curves.start_us + BLOCK_US)
            in_time = stable_order(times)
            ordered = rows.take(in_time if by_customer is None else by_customer[in_time])
            ordered.time_us, ordered.seq = times[in_time], numbers[in_time]
            yield ordered
            block += 1

    def shard_share(self, events: int) -> int:
        """How many of the unsharded stream's first `events` events are this shard's (its customers').

        The shares of the n shards sum to `events`. Found by generating the unsharded stream's first
        `events` events (no encoding: a few seconds per million), so each shard can stop exactly where
        its part of an unsharded `--events` run ends.

        >>> config = StreamConfig(seed=7, customers=50, merchants=20, shard=(1, 3))
        >>> shares = [TransactionStream(dataclasses.replace(config, shard=(i, 3))).shard_share(500) for i in range(3)]
        >>> sum(shares)
        500
        """
        index, count = self.config.shard
        if count == 1 or events <= 0:
            return max(events, 0)
        whole = TransactionStream(dataclasses.replace(self.config, shard=(0, 1)), self.world)
        share, seen = 0, 0
        for block in whole.blocks():
            customers = block.customer[:events - seen]
            share += int(np.count_nonzero(customers % count == index))
            seen += len(customers)
            if seen >= events:
                return share
        raise AssertionError("the stream is endless")  # pragma: no cover

    def batches(self, size: int, skip: int = 0) -> Iterator[EventColumns]:
        """Batches of at most `size` events, after skipping the first `skip` events of the stream."""
        pending: deque[EventColumns] = deque()  # blocks (or their unsent tails), oldest first
        buffered = 0
        for block in self.blocks():
            if skip >= len(block):
                skip -= len(block)
                continue
            if skip:
                block, skip = block.slice(skip, len(block)), 0
            pending.append(block)
            buffered += len(block)
            while buffered >= size:
                # a batch inside one block is a view of it; only batches straddling blocks are copied
                parts, need = [], size
                while need:
                    head = pending[0]
                    if len(head) <= need:
                        parts.append(pending.popleft())
                        need -= len(head)
                    else:
                        parts.append(head.slice(0, need))
                        pending[0] = head.slice(need, len(head))
                        need = 0
                buffered -= size
                yield EventColumns.concat(parts)
