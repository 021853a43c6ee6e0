"""Schedules fraud scenarios so that the realised fraud rate and type mix match the configuration.

For fraud rate f, a block whose legitimate traffic is expected to hold L transactions (over the whole
population, so every shard agrees) needs f/(1-f) * L fraudulent ones; type t supplies weight_t of
them, i.e. f/(1-f) * L * weight_t / mean_events_t scenario starts, spread evenly over the customers
eligible for t. Each customer's starts come from uniforms its own arrival generator draws anyway;
the scenario itself is planned with the customer's own FRAUD generator. Mule rings are planned from
each ring's generator and emitted only for the customers of this shard. Transactions planned past
the end of the block wait for the block they fall in. Warm-up scenarios (planned before the start, so
that the first days carry the fraud rate of any other) keep only their rows at or after the start, and
no refund of a purchase before it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US
from synfinance.producers import anomalies
from synfinance.producers import events as ev
from synfinance.producers.arrivals import poisson_quantile
from synfinance.producers.customers import Customers
from synfinance.producers.events import EventColumns
from synfinance.producers.labels import LabelDelays
from synfinance.producers.merchants import MerchantPools, Merchants
from synfinance.producers.scenarios.actors import FraudActors
from synfinance.producers.scenarios.plan import Plan
from synfinance.producers.scenarios.planners import PLANNERS, plan_mule_ring, velocity_burst
from synfinance.producers.scenarios.rows import RowBuilder
from synfinance.producers.scenarios.specs import SCENARIOS, SPEC_BY_NAME
from synfinance.producers.seeding import (
    Kind,
    Purpose,
    entity_rng,
    entity_rngs,
    entity_uniforms,
    rng_from_words,
    seed_words,
)
from synfinance.producers.timeline import BLOCK_DAYS, BLOCK_US, BlockCurves, customer_pairs, daily_rates

# Legitimate transactions in a trip's transit are dropped (~3.2% measured over 6 blocks of seed 42):
# scheduling against the expected count before the drop would overshoot the fraud rate by that much.
TRANSIT_SURVIVAL = 0.965
WARM_UP_BLOCKS = 4  # blocks planned before the start: the longest scenario (synthetic identity) spans ~4 weeks
PER_VICTIM = [s for s in SCENARIOS if s.name in PLANNERS]   # column j of the engine's head uniforms
ANCHOR_COLUMNS = ("time_us", "merchant", "amount_paise", "payment_mode", "city", "device", "entry_mode",
                  "transaction_type")


NEW_ACCOUNT_DAYS = 365  # synthetic identities are accounts opened within this many days before the start


def eligible(customers: Customers, needs: str, start_day: int) -> npt.NDArray[np.bool_]:
    holds = customers.holds
    new = customers.open_day >= start_day - NEW_ACCOUNT_DAYS
    return {"card": holds[:, ev.DEBIT_CARD] | holds[:, ev.CREDIT_CARD], "credit": holds[:, ev.CREDIT_CARD],
            "new_credit": holds[:, ev.CREDIT_CARD] & new, "upi": holds[:, ev.UPI],
            "any": np.ones(len(holds), dtype=bool)}[needs]


class FraudEngine:
    """Plans and emits the fraudulent transactions of each block for the customers in `members`."""

    def __init__(self, seed: int, customers: Customers, merchants: Merchants, pools: MerchantPools,
                 actors: FraudActors, members: npt.NDArray[np.int64], fraud_rate: float, delays: LabelDelays,
                 start_us: int, anomaly_rate: float = 0.0) -> None:
        self.seed, self.customers, self.merchants, self.pools, self.actors = seed, customers, merchants, pools, actors
        self.members, self.fraud_rate, self.delays = members, fraud_rate, delays
        self.start_us, self.anomaly_rate = start_us, anomaly_rate
        start_day = start_us // DAY_US
        self.is_member = np.zeros(len(customers), dtype=bool)
        self.is_member[members] = True
        mule = np.zeros(len(customers), dtype=bool)
        for ring in actors.rings:
            mule[ring] = True
        self.masks = np.stack([eligible(customers, s.needs, start_day) & ~mule for s in PER_VICTIM], axis=1)
        self.member_masks = self.masks[members]
        self.victim_pool = np.flatnonzero(eligible(customers, "upi", start_day) & ~mule)  # mule-ring victims
        self.rngs: dict[int, np.random.Generator] = {}
        # victims' FRAUD generators are built on first use; their seed words are hashed for all members at once
        self.fraud_words = seed_words(seed, Kind.CUSTOMER, members, Purpose.FRAUD)
        self.ring_rngs = entity_rngs(seed, Kind.RING, range(len(actors.rings)), Purpose.FRAUD)
        self.pending = EventColumns.empty()
        self.daily_rate_all = daily_rates(customers.monthly_rate)
        self.group_all = customer_pairs(customers.occupation, customers.region)

    def expected_legit(self, curves: BlockCurves) -> float:
        """Expected legitimate transactions of the whole population in the block."""
        return float(np.sum(curves.expected(self.daily_rate_all, self.group_all))) * TRANSIT_SURVIVAL

    def block(self, b: int, curves: BlockCurves, heads: npt.NDArray[np.float64], legit: EventColumns) -> EventColumns:
        """This block's fraudulent rows (including those planned earlier that fall in it)."""
        rows = RowBuilder(self.customers, self.merchants)
        if self.fraud_rate > 0:
            if b == 0:
                self._warm_up(rows, curves.start_us)
            self._plan(b, curves, heads, legit, rows)
        planned = rows.build()
        if len(planned):
            # a warm-up scenario's rows before the start are not in the stream, nor a refund of such a purchase:
            # every refund of the stream names a purchase the stream holds
            original = planned.original_time_us
            keep = (self.is_member[planned.customer] & (planned.time_us >= self.start_us)
                    & ((original < 0) | (original >= self.start_us)))
            planned = planned.take(np.flatnonzero(keep))
        everything = EventColumns.concat([self.pending, planned])
        due = everything.time_us < curves.start_us + BLOCK_US
        self.pending = everything.take(np.flatnonzero(~due))
        return everything.take(np.flatnonzero(due))

    def _warm_up(self, rows: RowBuilder, start_us: int) -> None:
        """Plan the WARM_UP_BLOCKS before the start as if the stream had been running: their scenarios'
        transactions at or after the start are kept, so the first days carry the same fraud rate as any
        other. Warm-up block -k plans only the types whose scenarios can last into the start (`span_days`).
        Each member's head uniforms are hashed from (seed, member, WARM_UP); scenarios come from the
        victim's FRAUD generator, as always."""
        heads = entity_uniforms(self.seed, Kind.CUSTOMER, self.members, Purpose.WARM_UP,
                                WARM_UP_BLOCKS * len(PER_VICTIM)).reshape(len(self.members), WARM_UP_BLOCKS, -1)
        spans = np.array([s.span_days for s in PER_VICTIM])
        for k in range(WARM_UP_BLOCKS, 0, -1):
            reach = spans > (k - 1) * BLOCK_DAYS
            self._plan(-k, BlockCurves.for_block(start_us, -k), heads[:, k - 1], EventColumns.empty(), rows, reach,
                       rings=k == 1)

    def _plan(self, b: int, curves: BlockCurves, heads: npt.NDArray[np.float64], legit: EventColumns,
              rows: RowBuilder, types: npt.NDArray[np.bool_] | None = None, rings: bool = True) -> None:
        """Plan block b's scenarios (of `types` only, if given; mule rings if `rings`)."""
        frauds = self.fraud_rate / (1.0 - self.fraud_rate) * self.expected_legit(curves)
        starts_per_type = np.array([frauds * s.weight / s.mean_events for s in PER_VICTIM])
        if types is not None:
            starts_per_type = np.where(types, starts_per_type, 0.0)
        per_customer = starts_per_type / np.maximum(self.masks.sum(axis=0), 1)
        counts = poisson_quantile((self.member_masks * per_customer).ravel(),
                                  heads[:, :len(PER_VICTIM)].ravel()).reshape(len(self.members), -1)
        anchors = {name: getattr(legit, name) for name in ANCHOR_COLUMNS}
        positions, kinds = np.nonzero(counts)
        victims = self.members[positions]
        # each victim's legitimate rows of the block, for all victims in one search
        los = np.searchsorted(legit.customer, victims)
        his = np.searchsorted(legit.customer, victims + 1)
        for i, t, victim, lo, hi, n in zip(positions.tolist(), kinds.tolist(), victims.tolist(), los.tolist(),
                                           his.tolist(), counts[positions, kinds].tolist(), strict=True):
            rng = self._rng(victim, i)
            for serial in range(n):
                start = self._start_time(curves, int(self.group_all[victim]), rng)
                plan = Plan(customers=self.customers, merchants=self.merchants, pools=self.pools, actors=self.actors,
                            rows=rows, rng=rng, victim=victim, start_us=start,
                            scenario=scenario_id(victim, b, t, serial), delays=self.delays, anchors=np.arange(lo, hi),
                            anchor_rows=anchors)
                PLANNERS[PER_VICTIM[t].name](plan)
        if rings:
            self._rings(b, frauds, rows, curves)
        if types is None and self.anomaly_rate > 0 and heads.shape[1] > len(PER_VICTIM):
            self._bursts(b, curves, heads[:, len(PER_VICTIM)], rows)

    def _bursts(self, b: int, curves: BlockCurves, u: npt.NDArray[np.float64], rows: RowBuilder) -> None:
        """Legitimate velocity bursts (anomalies.VELOCITY_SHARE of anomalous rows), planned like scenarios from
        each customer's spare head uniform and FRAUD generator."""
        total = self.anomaly_rate * anomalies.VELOCITY_SHARE / (1.0 - self.fraud_rate) * self.expected_legit(curves)
        per_customer = total / anomalies.BURST_MEAN_ROWS / len(self.customers)
        counts = poisson_quantile(np.full(len(self.members), per_customer), u)
        for i in np.flatnonzero(counts).tolist():
            customer = int(self.members[i])
            rng = self._rng(customer, i)
            for _ in range(int(counts[i])):
                start = self._start_time(curves, int(self.group_all[customer]), rng)
                velocity_burst(Plan(customers=self.customers, merchants=self.merchants, pools=self.pools,
                                    actors=self.actors, rows=rows, rng=rng, victim=customer, start_us=start,
                                    scenario=-1, delays=self.delays, anchors=np.arange(0), anchor_rows={}))

    @staticmethod
    def _start_time(curves: BlockCurves, group: int, rng: np.random.Generator) -> int:
        """When a scenario starts: drawn from the block's arrival curve of the (occupation, region) group, so
        that fraud follows the daily volume (salary days, festivals) and its share stays level."""
        u = rng.random(2)
        return int(curves.arrival_times(np.array([group]), u[:1], u[1:])[0])

    def _rings(self, b: int, frauds: float, rows: RowBuilder, curves: BlockCurves) -> None:
        if not self.actors.rings or not len(self.victim_pool):
            return
        spec = SPEC_BY_NAME["mule_ring"]
        per_ring = frauds * spec.weight / spec.mean_events / len(self.actors.rings)
        for r, rng in enumerate(self.ring_rngs):
            count = int(poisson_quantile(np.array([per_ring]), rng.random(1))[0])
            for serial in range(count):
                victims = self.victim_pool[rng.integers(len(self.victim_pool), size=int(rng.integers(4, 11)))]
                start = self._start_time(curves, int(self.group_all[self.actors.rings[r][0]]), rng)
                plan_mule_ring(rows=rows, customers=self.customers, actors=self.actors, ring=r, rng=rng, start_us=start,
                               scenario=ring_scenario_id(r, b, serial), victims=victims, delays=self.delays)

    def _rng(self, customer: int, position: int) -> np.random.Generator:
        """The FRAUD generator of `customer`, member number `position`."""
        rng = self.rngs.get(customer)
        if rng is None:
            rng = (entity_rng(self.seed, Kind.CUSTOMER, customer, Purpose.FRAUD) if self.fraud_words is None
                   else rng_from_words(self.fraud_words[position]))
            self.rngs[customer] = rng
        return rng


def scenario_id(customer: int, block: int, type_index: int, serial: int) -> int:
    """Unique per scenario: (customer, block, type, serial) packed into one integer (warm-up blocks are
    negative: the block field holds block + WARM_UP_BLOCKS)."""
    return ((customer + 1) * 100_000 + block + WARM_UP_BLOCKS) * 1_000 + type_index * 50 + serial


def ring_scenario_id(ring: int, block: int, serial: int) -> int:
    return 9 * 10**17 + (ring * 100_000 + block + WARM_UP_BLOCKS) * 100 + serial
