"""Legitimate arrivals: each customer's transactions in one block of event time, all fields derived.

Per customer and block, the customer's own ARRIVALS generator draws (1) how many transactions and
trips fall in the block and (2) one row of uniforms per transaction (its columns:
`producers.legitimate_fields`, which derives the fields from them); everything else is vectorised
over all customers of the block. Trips move a customer to a nearby or distant city for hours or days;
transactions in transit are dropped, so legitimate traffic never shows impossible travel (the
card-cloning signal). Generators are consumed block after block, so a customer's history depends only
on (seed, customer) and the block count, never on other customers or on sharding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, HOUR_US
from synfinance.producers import anomalies, prices
from synfinance.producers import events as ev
from synfinance.producers.customers import Customers
from synfinance.producers.events import EventColumns
from synfinance.producers.fields import Choices, Uniforms, assemble
from synfinance.producers.legitimate_fields import (
    N_UNIFORMS,
    U_ANOMALY,
    U_ANOMALY_KIND,
    U_ANOMALY_SIZE,
    U_ENTRY,
    U_HOUR,
    U_LABEL,
    U_MODE,
    U_OFFSET,
    U_PICK,
    U_REASON,
    U_TERMINAL,
    U_TYPE,
    derive_fields,
    is_purchase,
)
from synfinance.producers.merchants import MerchantPools, Merchants
from synfinance.producers.timeline import BLOCK_US, BlockCurves, customer_pairs, daily_rates
from synfinance.producers.world.categories import CATEGORY_NAMES
from synfinance.producers.world.geography import (
    CITY_WEIGHTS,
    DISTANCE_KM,
    NEARBY,
)

# per customer and block: event count, trip count, then one uniform per fraud type for the scenario engine
HEADS = 16
TRIP_UNIFORMS = 5
FORCED_TRIP_UNIFORMS = 3  # per geographic anomaly: the far city, the stay's length, the anomaly's place in it
FAR_TRIP_SHARE = 0.3            # trips beyond the nearby radius (the rest are day trips nearby)
FLIGHT_KMH, ROAD_KMH = 700.0, 60.0
# Share of legitimate transactions that are purchases at a merchant, over the default persona mix
# (1 - P(UPI holder) x P2P share - P(debit holder) x ATM share - refunds ~ 0.70; measured 0.70-0.71).
# A constant, not the population's average, so that anomalies of customer k do not depend on N.
PURCHASE_SHARE = 0.70

CATEGORY_INDEX = {name: code for code, name in enumerate(CATEGORY_NAMES)}
_NEVER = -(2**62)
FIELD_CHUNK = 16_384  # rows per derive_fields call: keeps its temporaries in cache
_POISSON_ROWS = 2_048  # rows per poisson_quantile table
_CITY_CUM_ARRAY = np.cumsum(CITY_WEIGHTS)
_NEARBY_COUNT = np.array([len(n) for n in NEARBY], dtype=np.int64)
_NEARBY_TABLE = np.array([list(n) + [0] * (max(_NEARBY_COUNT) - len(n)) for n in NEARBY], dtype=np.int64)


class Trip(NamedTuple):
    """A stay away from home: transactions in [start, end) happen in `city`; none in transit.
    (A NamedTuple: thousands are made per block, and `_locate` reads them as rows of an array.)"""

    city: int
    blocked_from: int   # start of the outbound transit
    start: int
    end: int
    blocked_until: int  # end of the return transit


class ArrivalGenerator:
    """Generates the legitimate transactions of a set of customers, block by block."""

    def __init__(self, customers: Customers, merchants: Merchants, pools: MerchantPools,
                 members: npt.NDArray[np.int64], rngs: list[np.random.Generator], start_us: int,
                 anomaly_rate: float = 0.0, label_delay: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.int64]]
                 | None = None) -> None:
        self.customers, self.merchants, self.pools = customers, merchants, pools
        self.members = members                    # customer ordinals generated here (a shard)
        self.rngs = rngs                          # one ARRIVALS generator per member
        self.start_us = start_us
        self.trips: list[tuple[int, Trip]] = []   # (member position, trip) not yet over
        self.busy: dict[int, list[Trip]] = {}     # member position -> its trips not yet over
        self.heads = np.empty((len(rngs), HEADS))  # block 0's head uniforms, drawn into their rows
        for rng, row in zip(rngs, self.heads, strict=True):
            rng.random(out=row)
        self.extra_heads = self.heads[:, 2:]
        self.anomaly_rate = anomaly_rate
        self._buffers: dict[str, npt.NDArray[np.float64]] = {}
        self.purchase_share = PURCHASE_SHARE
        self.label_delay = label_delay
        c = customers
        self.group = customer_pairs(c.occupation[members], c.region[members])
        self.daily_rate = daily_rates(c.monthly_rate[members])
        # ~12 x propensity trips a week, 30% of them far (1-6 days), the rest day trips nearby (4-14 h):
        # about 2 x propensity of the time away, in line with "home 80%, nearby 15%, travel 5%"
        self.trip_rate = c.travel_propensity[members] * 12.0 * (BLOCK_US / (7 * DAY_US))

    def _buffer(self, name: str, rows: int) -> npt.NDArray[np.float64]:
        """The first `rows` rows of the reused (rows, N_UNIFORMS) buffer `name`, grown with headroom when short.
        Nothing derived from a block keeps a view of it (every field is computed into new arrays)."""
        buffer = self._buffers.get(name)
        if buffer is None or len(buffer) < rows:
            buffer = self._buffers[name] = np.empty((rows + rows // 4, N_UNIFORMS))
        return buffer[:rows]

    def expected(self, curves: BlockCurves) -> npt.NDArray[np.float64]:
        """Expected transactions of each member in the block of `curves`."""
        return curves.expected(self.daily_rate, self.group)

    def block(self, curves: BlockCurves) -> EventColumns:
        """The legitimate transactions of one block, grouped by customer, each customer's in time order
        (`seq` is left 0: it is assigned once injected rows have joined). Afterwards `extra_heads` holds
        this block's per-member uniforms for the scenario engine."""
        block_start = curves.start_us
        # one generator call per customer and block: this block's rows, then the next block's head
        # uniforms (event count, trip count, and the scenario engine's draws) by vectorised inverse CDF
        heads = self.heads
        self.extra_heads = heads[:, 2:]
        counts = poisson_quantile(self.expected(curves), heads[:, 0])
        n_trips = poisson_quantile(self.trip_rate, heads[:, 1])
        # Each member's call fills its own region of one reused (rows, N_UNIFORMS) buffer: its `count` rows, then
        # a row whose first HEADS cells take the next block's heads. Same draws as rng.random(count * N_UNIFORMS +
        # HEADS), without ~10^4 small arrays, their concatenation, and a fresh ~25 MB matrix per block (fresh large
        # arrays are hugepage-backed and can stall for tens of ms on first touch).
        first = np.cumsum(counts + 1) - (counts + 1)  # each member's first row
        grid = self._buffer("drawn", int(first[-1] + counts[-1] + 1) if len(counts) else 0)
        flat = grid.reshape(-1)
        for rng, start, n in zip(self.rngs, (first * N_UNIFORMS).tolist(), counts.tolist(), strict=True):
            rng.random(out=flat[start:start + n * N_UNIFORMS + HEADS])
        self.heads = grid[first + counts, :HEADS]  # a copy: the buffer is refilled next block
        travellers = np.flatnonzero(n_trips)
        trip_draws = [self.rngs[i].random((n, TRIP_UNIFORMS)) for i, n in
                      zip(travellers.tolist(), n_trips[travellers].tolist(), strict=True)]
        self._plan_trips(np.repeat(travellers, n_trips[travellers]),
                         np.concatenate(trip_draws) if trip_draws else np.empty((0, TRIP_UNIFORMS)), block_start)
        member = np.repeat(np.arange(len(self.members)), counts)
        row = np.arange(len(member)) + member  # the event's row in `grid` (members' head rows skipped)
        times = curves.arrival_times(self.group[member], grid[row, U_HOUR], grid[row, U_OFFSET])
        purchase = is_purchase(self.customers.holds[self.members[member]], grid[row, U_TYPE])
        kind = anomalies.choose(grid[row, U_ANOMALY], grid[row, U_ANOMALY_KIND], self.anomaly_rate, purchase,
                                self.purchase_share)
        size = grid[row, U_ANOMALY_SIZE]
        night = kind == anomalies.TEMPORAL
        times[night] = anomalies.to_night(times[night], size[night], block_start, block_start + BLOCK_US)
        geo = np.flatnonzero(kind == anomalies.GEOGRAPHIC)
        severity = np.zeros(len(member))
        placed, distance = self._force_trips(member[geo], times[geo])
        kind[geo[~placed]] = anomalies.AMOUNT  # no room for a trip: an unusual amount instead
        severity[geo[placed]] = np.minimum(distance[placed] / 2_500.0, 1.0)
        city, keep = self._locate(member, times, block_start)
        kept = np.flatnonzero(keep)
        # one sort key (member, time) and one gather of the uniform matrix
        index = kept[np.argsort((member[kept] << 42) + (times[kept] - block_start), kind="stable")]
        # the rows of uniforms in that order, as one C-ordered matrix like every block before: derive_fields feeds
        # its columns to log1p/cos/exp, whose SIMD loops are not promised to round alike for every memory layout.
        # Gathered into a reused buffer (mode="clip": with the default "raise", numpy buffers `out` once more).
        u = self._buffer("sorted", len(index))
        np.take(grid, row[index], axis=0, out=u, mode="clip")
        member, times, city = member[index], times[index], city[index]
        kind, severity = kind[index], severity[index]
        times = strictly_increasing(member, times)
        block_end = block_start + BLOCK_US
        self.trips = [(i, t) for i, t in self.trips if t.blocked_until > block_end]
        self.busy = {i: ongoing for i, trips in self.busy.items()
                     if (ongoing := [t for t in trips if t.blocked_until > block_end])}
        rows = self._fields(self.members[member], np.zeros(len(member), dtype=np.int64), times, city, u)
        self._finish_anomalies(rows, kind, severity, u)
        if self.label_delay is not None:
            rows.label_delay_us = self.label_delay(u[:, U_LABEL])
        return rows

    def _finish_anomalies(self, rows: EventColumns, kind: npt.NDArray[np.int64], severity: npt.NDArray[np.float64],
                          u: npt.NDArray[np.float64]) -> None:
        """Amount and behavioural anomalies change fields after derivation; every kind is labelled."""
        c, m = self.customers, self.merchants
        size = u[:, U_ANOMALY_SIZE]
        # a purchase a refund gives back keeps its merchant (an unusual amount is the anomaly instead), and
        # a refund is never the anomaly: it gives back what was paid
        refund = rows.transaction_type == ev.REFUND
        kind[refund] = -1
        shop_key = rows.customer * len(m) + rows.merchant
        movable = anomalies.is_purchase(rows) & ~np.isin(shop_key, shop_key[refund])
        behavioural = np.flatnonzero((kind == anomalies.BEHAVIOURAL) & movable)
        kind[(kind == anomalies.BEHAVIOURAL) & ~movable] = anomalies.AMOUNT
        if len(behavioural):
            customer = rows.customer[behavioural]
            category = np.array([CATEGORY_INDEX[anomalies.BIG_TICKET[int(x * 3) % 3]] for x in size[behavioural]])
            merchant = self.pools.pick(category, rows.city[behavioural], np.ones(len(behavioural), dtype=bool),
                                       u[behavioural, U_PICK])
            online = m.is_online[merchant]
            mode = c.pick_mode(customer, online, u[behavioural, U_MODE])
            amount = (prices.CATEGORY_MEDIAN[category] * 4.0 * c.amount_scale[customer] * 100).astype(np.int64)
            device = c.phone_at(customer, rows.time_us[behavioural])
            n = len(behavioural)
            chosen = Choices(customer=customer, seq=rows.seq[behavioural], time_us=rows.time_us[behavioural],
                             city=rows.city[behavioural], ttype=np.full(n, ev.PURCHASE), merchant=merchant,
                             payee=np.full(n, -1), mode=mode, online=online, amount=amount,
                             device=np.where(online | (mode == ev.UPI), device, -1), declined=np.zeros(n, dtype=bool),
                             entry=np.full(n, -1))
            redone = assemble(c, m, chosen, Uniforms(entry=u[behavioural, U_ENTRY], terminal=u[behavioural, U_TERMINAL],
                                                     reason=u[behavioural, U_REASON]))
            for name in ("merchant", "payee", "amount_paise", "payment_mode", "instrument", "channel", "entry_mode",
                         "latitude", "longitude", "device", "terminal", "status", "decline_reason"):
                getattr(rows, name)[behavioural] = getattr(redone, name)
            severity[behavioural] = 0.4 + 0.6 * (1.0 - c.category_cum[customer, category] +
                                                 np.where(category > 0, c.category_cum[customer, category - 1], 0.0))
        amount = np.flatnonzero(kind == anomalies.AMOUNT)
        if len(amount):
            factor = anomalies.amount_multiplier(size[amount])
            cash = rows.transaction_type[amount] == ev.CASH_WITHDRAWAL
            scaled = np.minimum((rows.amount_paise[amount] * factor).astype(np.int64), prices.UPI_P2M_MAX_PAISE)
            merchant = rows.merchant[amount]
            category = np.where(merchant >= 0, m.category[np.maximum(merchant, 0)], -1)
            rows.amount_paise[amount] = prices.shape(np.where(cash, prices.ATM_MAX_PAISE, scaled), category,
                                                     (rows.channel[amount] == ev.ECOMMERCE)
                                                     | (rows.channel[amount] == ev.IN_APP),
                                                     rows.transaction_type[amount])
            severity[amount] = np.where(cash, 0.3, 0.3 + 0.7 * (factor - 5.0) / 15.0)
        night = kind == anomalies.TEMPORAL
        severity[night] = anomalies.night_severity(rows.time_us[night])
        # an unusual payment is often made from an unusual device too (a hotel's wifi, a new phone for the trip)
        odd = np.flatnonzero((kind >= 0) & (rows.device >= 0) & ((u[:, U_ANOMALY_KIND] * 7_919.0) % 1.0 < 0.3))
        rows.device[odd] = c.device_start[rows.customer[odd]] + c.device_count[rows.customer[odd]] + 1
        anomalies.label(rows, kind, severity)

    def _force_trips(self, member: npt.NDArray[np.int64],
                     times: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Plan a genuine distant trip around each (member, time); False where the member is busy then. The
        city, the stay's length and where the time falls in it are three independent uniforms of the member's
        own generator (FORCED_TRIP_UNIFORMS, drawn for every row, placed or not)."""
        placed = np.zeros(len(member), dtype=bool)
        distance = np.zeros(len(member))
        for row, (i, t) in enumerate(zip(member.tolist(), times.tolist(), strict=True)):
            u_city, u_length, u_offset = self.rngs[i].random(FORCED_TRIP_UNIFORMS).tolist()
            home = int(self.customers.home_city[self.members[i]])
            far = np.flatnonzero(DISTANCE_KM[home] >= 800.0)
            if not len(far):
                continue
            city = int(far[min(int(u_city * len(far)), len(far) - 1)])
            transit = int((DISTANCE_KM[home, city] / FLIGHT_KMH + 1.5) * HOUR_US)
            hours = 24.0 + 72.0 * u_length
            start = t - int((0.1 + 0.8 * u_offset) * hours * HOUR_US)
            end = start + int(hours * HOUR_US)
            clashes = [trip for trip in self.busy.get(i, [])
                       if trip.blocked_from < end + transit and start - transit < trip.blocked_until]
            if clashes:
                # already travelling: the row counts if it falls on a trip the customer is on
                on = [trip for trip in clashes if trip.start <= t < trip.end]
                if on:
                    placed[row], distance[row] = True, float(DISTANCE_KM[home, on[0].city])
                continue
            trip = Trip(city, start - transit, start, end, end + transit)
            self.trips.append((i, trip))
            self.busy.setdefault(i, []).append(trip)
            placed[row], distance[row] = True, float(DISTANCE_KM[home, city])
        return placed, distance

    def _plan_trips(self, member: npt.NDArray[np.int64], u: npt.NDArray[np.float64], block_start: int) -> None:
        """Add this block's trips of `member` (rows of uniforms: start, far, city, length, spare)."""
        if not len(member):
            return
        home = self.customers.home_city[self.members[member]]
        n_near = _NEARBY_COUNT[home]
        far = (u[:, 1] < FAR_TRIP_SHARE) | (n_near == 0)
        far_city = np.minimum(np.searchsorted(_CITY_CUM_ARRAY, u[:, 2], side="right"), len(_CITY_CUM_ARRAY) - 1)
        near_city = _NEARBY_TABLE[home, np.minimum((u[:, 2] * n_near).astype(np.int64), np.maximum(n_near - 1, 0))]
        city = np.where(far, far_city, near_city)
        hours = np.where(far, 24.0 + u[:, 3] * 120.0, 4.0 + u[:, 3] * 10.0)
        speed = np.where(far, FLIGHT_KMH, ROAD_KMH)
        transit = ((DISTANCE_KM[home, city] / speed + 1.5) * HOUR_US).astype(np.int64)
        start = block_start + (u[:, 0] * BLOCK_US).astype(np.int64)
        end = start + (hours * HOUR_US).astype(np.int64)
        order = np.lexsort((start, member))
        member, city, transit, start, end, home = (a[order] for a in (member, city, transit, start, end, home))
        # a trip is taken only if it starts (outbound journey included) after the previous trip of the
        # same customer, and its journey home, are over; checked against the previous drawn trip, kept or
        # not, which keeps the rule vectorised and can only drop more trips, never overlap them
        previous_busy = np.concatenate([[_NEVER], end[:-1] + transit[:-1]])
        previous_busy[np.concatenate([[True], member[1:] != member[:-1]])] = _NEVER
        # the end of each member's last journey home carried over (busy[i] holds member i's entries of trips)
        last_busy = np.full(len(self.members), _NEVER, dtype=np.int64)
        if self.trips:
            np.maximum.at(last_busy, np.array([i for i, _ in self.trips], dtype=np.int64),
                          np.array([t.blocked_until for _, t in self.trips], dtype=np.int64))
        carried = last_busy[member]
        ok = (city != home) & (start - transit >= np.maximum(previous_busy, carried))
        for i, c, t, s0, e0 in zip(*(a[ok].tolist() for a in (member, city, transit, start, end)), strict=True):
            trip = Trip(c, s0 - t, s0, e0, e0 + t)
            self.trips.append((i, trip))
            self.busy.setdefault(i, []).append(trip)

    def _locate(self, member: npt.NDArray[np.int64], times: npt.NDArray[np.int64],
                block_start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """City of each transaction (home, or the trip's city) and whether it survives (not in transit)."""
        city = self.customers.home_city[self.members[member]].copy()
        if not self.trips:
            return city, np.ones(len(member), dtype=bool)
        who = np.array([i for i, _ in self.trips], dtype=np.int64)
        # columns blocked_from, start, end, blocked_until, city
        table = np.array([t for _, t in self.trips], dtype=np.int64)[:, [1, 2, 3, 4, 0]]
        # a member's trips never overlap, so the only candidate for an event is the member's last trip
        # starting (transit included) at or before it: one searchsorted on (member, time) keys
        offset = 1 << 40  # keeps carried-over trips (started up to ~12 days earlier) positive
        trip_keys = (who << 42) + (table[:, 0] - block_start + offset)
        order = np.argsort(trip_keys, kind="stable")
        who, table, trip_keys = who[order], table[order], trip_keys[order]
        event_keys = (member << 42) + (times - block_start + offset)
        found = np.maximum(np.searchsorted(trip_keys, event_keys, side="right") - 1, 0)
        inside = (who[found] == member) & (times >= table[found, 0]) & (times < table[found, 3])
        away = inside & (times >= table[found, 1]) & (times < table[found, 2])
        city[away] = table[found[away], 4]
        return city, ~(inside & ~away)

    def _fields(self, customer: npt.NDArray[np.int64], seq: npt.NDArray[np.int64], times: npt.NDArray[np.int64],
                city: npt.NDArray[np.int64], u: npt.NDArray[np.float64]) -> EventColumns:
        rows = [slice(i, i + FIELD_CHUNK) for i in range(0, len(customer), FIELD_CHUNK)]
        parts = [derive_fields(self.customers, self.merchants, self.pools, customer=customer[r], seq=seq[r],
                               times=times[r], city=city[r], u=u[r]) for r in rows]
        return EventColumns.concat(parts) if parts else EventColumns.empty()


def poisson_quantile(mean: npt.NDArray[np.float64], u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Poisson(mean) draws by inverse CDF of the uniforms `u`, vectorised over rows.

    >>> poisson_quantile(np.array([0.0, 3.0, 3.0]), np.array([0.99, 0.05, 0.5])).tolist()
    [0, 1, 3]
    """
    if not len(mean):
        return np.zeros(0, dtype=np.int64)
    top = int(np.max(mean) + 12 * np.sqrt(np.max(mean)) + 12)
    zero = np.exp(-mean)  # pmf(0) = cdf(0)
    # A row's cdf never decreases from cdf(0), so u < cdf(0) draws 0: most rows when means are small (the
    # scenario engine's ~0.001 per customer and type). Only the other rows need the table; each row's
    # arithmetic is the same whichever rows are in it.
    draws = np.zeros(len(mean), dtype=np.int64)
    needed = np.flatnonzero(u >= zero)
    ks = np.arange(1, top, dtype=np.float64)[None, :]
    # in chunks of rows, so that the tables stay small (in cache, and below numpy's hugepage threshold)
    for lo in range(0, len(needed), _POISSON_ROWS):
        rows = needed[lo:lo + _POISSON_ROWS]
        # pmf(k) = pmf(k-1) * mean / k: a running product instead of an exp per cell
        ratios = mean[rows, None] / ks
        pmf = np.empty((len(rows), top))
        pmf[:, 0] = zero[rows]
        np.cumprod(ratios, axis=1, out=pmf[:, 1:])
        pmf[:, 1:] *= pmf[:, :1]
        cdf = np.cumsum(pmf, axis=1, out=pmf)
        draws[rows] = np.minimum((cdf <= u[rows, None]).sum(axis=1), top - 1)
    return draws


def strictly_increasing(member: npt.NDArray[np.int64], times: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nudge equal consecutive times of one customer apart by 1 µs (rows grouped by member, sorted)."""
    times = times.copy()
    while True:
        same = np.flatnonzero((member[1:] == member[:-1]) & (times[1:] <= times[:-1])) + 1
        if not len(same):
            return times
        times[same] = times[same - 1] + 1
