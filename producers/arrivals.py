"""Legitimate arrivals: each customer's transactions in one block of event time, all fields derived.

Per customer and block, the customer's own ARRIVALS generator draws (1) how many transactions and
trips fall in the block and (2) one row of uniforms per transaction; everything else is vectorised
over all customers of the block. Trips move a customer to a nearby or distant city for hours or days;
transactions in transit are dropped, so legitimate traffic never shows impossible travel (the
card-cloning signal). Generators are consumed block after block, so a customer's history depends only
on (seed, customer) and the block count, never on other customers or on sharding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producers import events as ev
from producers.customers import P2P_PROBABILITY, Customers
from producers.events import EventColumns
from producers.merchants import MerchantPools, Merchants
from producers.timeline import BLOCK_US, DAYS_PER_MONTH, HOUR_US, BlockCurves
from producers.world.catalogue import CATEGORIES, DECLINE_REASONS
from producers.world.geography import (
    CITY_LAT,
    CITY_LON,
    CITY_TIERS,
    CITY_WEIGHTS,
    COST_OF_LIVING,
    DISTANCE_KM,
    NEARBY,
    REGIONS,
)

# Columns of the per-transaction uniform matrix (append-only: reordering changes every stream).
U_HOUR, U_OFFSET, U_TYPE, U_MODE, U_CATEGORY, U_LOYAL, U_PICK, U_CHANNEL, U_AMOUNT1, U_AMOUNT2, \
    U_DEVICE, U_DECLINE, U_REASON, U_ENTRY, U_TERMINAL = range(15)
N_UNIFORMS = 15
TRIP_UNIFORMS = 5
CASH_WITHDRAWAL_SHARE = 0.015   # of a debit-card holder's transactions (ATM)
REFUND_SHARE = 0.005
FAR_TRIP_SHARE = 0.3            # trips beyond the nearby radius (the rest are day trips nearby)
FLIGHT_KMH, ROAD_KMH = 700.0, 60.0
P2P_MEDIAN_INR, P2P_SIGMA = 1_200.0, 1.1   # lognormal; mean ~2,200 (Worldline 2H 2024 P2P avg 2,666)
BASE_DECLINE = 0.012

_CATEGORY_MEDIAN = np.array([c.amount_median_inr for c in CATEGORIES])
_CATEGORY_SIGMA = np.array([c.amount_sigma for c in CATEGORIES])
_CATEGORY_ONLINE = np.array([c.online_share for c in CATEGORIES])
_CATEGORY_LOYALTY = np.array([c.loyalty for c in CATEGORIES])
_COST = np.array([COST_OF_LIVING[int(t)] for t in CITY_TIERS])
_CARD_REASONS = np.array([i for i, r in enumerate(DECLINE_REASONS) if r.rail == "card"])
_UPI_REASONS = np.array([i for i, r in enumerate(DECLINE_REASONS) if r.rail == "upi"])
_REASON_CODE = np.concatenate([_CARD_REASONS, _UPI_REASONS])
_REASON_CUM = np.concatenate([np.cumsum([DECLINE_REASONS[i].weight for i in rail]) / sum(
    DECLINE_REASONS[i].weight for i in rail) + offset for offset, rail in enumerate((_CARD_REASONS, _UPI_REASONS))])
_NEVER = -(2**62)
FIELD_CHUNK = 16_384  # rows per derive_fields call: keeps its temporaries in cache
_CITY_CUM_ARRAY = np.cumsum(CITY_WEIGHTS)
_NEARBY_COUNT = np.array([len(n) for n in NEARBY], dtype=np.int64)
_NEARBY_TABLE = np.array([list(n) + [0] * (max(_NEARBY_COUNT) - len(n)) for n in NEARBY], dtype=np.int64)


@dataclass
class Trip:
    """A stay away from home: transactions in [start, end) happen in `city`; none in transit."""

    city: int
    blocked_from: int   # start of the outbound transit
    start: int
    end: int
    blocked_until: int  # end of the return transit


class ArrivalGenerator:
    """Generates the legitimate transactions of a set of customers, block by block."""

    def __init__(self, customers: Customers, merchants: Merchants, pools: MerchantPools,
                 members: npt.NDArray[np.int64], rngs: list[np.random.Generator], start_us: int) -> None:
        self.customers, self.merchants, self.pools = customers, merchants, pools
        self.members = members                    # customer ordinals generated here (a shard)
        self.rngs = rngs                          # one ARRIVALS generator per member
        self.start_us = start_us
        self.seq = np.zeros(len(members), dtype=np.int64)
        self.trips: list[tuple[int, Trip]] = []   # (member position, trip) not yet over
        self.busy_until: dict[int, int] = {}      # member position -> end of its last trip's transit
        self.heads = np.array([rng.random(2) for rng in rngs]).reshape(-1, 2)  # block 0's count uniforms
        c = customers
        self.group = c.occupation[members] * len(REGIONS) + c.region[members]
        self.daily_rate = c.monthly_rate[members] / DAYS_PER_MONTH
        # ~12 x propensity trips a week, 30% of them far (1-6 days), the rest day trips nearby (4-14 h):
        # about 2 x propensity of the time away, in line with "home 80%, nearby 15%, travel 5%"
        self.trip_rate = c.travel_propensity[members] * 12.0 * (BLOCK_US / (7 * 86_400e6))

    def block(self, b: int) -> EventColumns:
        """The legitimate transactions of block `b`, grouped by customer, each customer's in time order."""
        curves = BlockCurves.for_block(self.start_us, b)
        occupations, regions = divmod(self.group, len(REGIONS))
        expected = self.daily_rate * curves.day_equivalents[occupations, regions]
        block_start = curves.start_us
        # two generator calls per customer and block: the uniforms that fix how many transactions and
        # trips it has (counts by vectorised inverse CDF), then one row of uniforms per transaction
        heads = self.heads
        counts = poisson_quantile(expected, heads[:, 0])
        n_trips = poisson_quantile(self.trip_rate, heads[:, 1])
        # one call per customer: this block's rows, then the next block's two head uniforms
        flat = [rng.random(n * N_UNIFORMS + 2) for rng, n in zip(self.rngs, counts.tolist(), strict=True)]
        self.heads = np.array([f[-2:] for f in flat]).reshape(-1, 2)
        draws = [f[:-2].reshape(-1, N_UNIFORMS) for f in flat]
        travellers = np.flatnonzero(n_trips)
        trip_draws = [self.rngs[i].random((n, TRIP_UNIFORMS)) for i, n in
                      zip(travellers.tolist(), n_trips[travellers].tolist(), strict=True)]
        self._plan_trips(np.repeat(travellers, n_trips[travellers]),
                         np.concatenate(trip_draws) if trip_draws else np.empty((0, TRIP_UNIFORMS)), block_start)
        u = np.concatenate(draws) if draws else np.empty((0, N_UNIFORMS))
        member = np.repeat(np.arange(len(self.members)), counts)
        times = curves.arrival_times(self.group[member], u[:, U_HOUR], u[:, U_OFFSET])
        city, keep = self._locate(member, times, block_start)
        kept = np.flatnonzero(keep)
        # one sort key (member, time) and one gather of the uniform matrix
        index = kept[np.argsort((member[kept] << 42) + (times[kept] - block_start), kind="stable")]
        member, times, city, u = member[index], times[index], city[index], u[index]
        times = _strictly_increasing(member, times)
        counts = np.bincount(member, minlength=len(self.members))
        rank = np.arange(len(member)) - np.repeat(np.cumsum(counts) - counts, counts)
        seq = self.seq[member] + rank
        self.seq += counts
        self.trips = [(i, t) for i, t in self.trips if t.blocked_until > block_start + BLOCK_US]
        return self._fields(self.members[member], seq, times, city, u)

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
        carried = np.array([self.busy_until.get(i, _NEVER) for i in member.tolist()], dtype=np.int64)
        ok = (city != home) & (start - transit >= np.maximum(previous_busy, carried))
        for i, c, t, s0, e0 in zip(*(a[ok].tolist() for a in (member, city, transit, start, end)), strict=True):
            self.trips.append((i, Trip(c, s0 - t, s0, e0, e0 + t)))
            self.busy_until[i] = e0 + t

    def _locate(self, member: npt.NDArray[np.int64], times: npt.NDArray[np.int64],
                block_start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """City of each transaction (home, or the trip's city) and whether it survives (not in transit)."""
        city = self.customers.home_city[self.members[member]].copy()
        if not self.trips:
            return city, np.ones(len(member), dtype=bool)
        who = np.array([i for i, _ in self.trips], dtype=np.int64)
        table = np.array([(t.blocked_from, t.start, t.end, t.blocked_until, t.city) for _, t in self.trips],
                         dtype=np.int64)
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
        parts = [derive_fields(self.customers, self.merchants, self.pools, customer[i:i + FIELD_CHUNK],
                               seq[i:i + FIELD_CHUNK], times[i:i + FIELD_CHUNK], city[i:i + FIELD_CHUNK],
                               u[i:i + FIELD_CHUNK]) for i in range(0, len(customer), FIELD_CHUNK)]
        return EventColumns.concat(parts) if parts else EventColumns.empty()


def derive_fields(c: Customers, m: Merchants, pools: MerchantPools, customer: npt.NDArray[np.int64],
                  seq: npt.NDArray[np.int64], times: npt.NDArray[np.int64], city: npt.NDArray[np.int64],
                  u: npt.NDArray[np.float64]) -> EventColumns:
    """Every field of a legitimate transaction from its customer, time, city and uniforms."""
    n = len(customer)
    holds = c.holds[customer]
    at_home = city == c.home_city[customer]

    # transaction type: P2P for UPI holders, ATM cash for debit-card holders, some refunds
    ttype = np.full(n, ev.PURCHASE, dtype=np.int64)
    p2p = holds[:, ev.UPI] & (u[:, U_TYPE] < P2P_PROBABILITY)
    cash = ~p2p & holds[:, ev.DEBIT_CARD] & (u[:, U_TYPE] > 1.0 - CASH_WITHDRAWAL_SHARE)
    refund = ~p2p & ~cash & (np.abs(u[:, U_TYPE] - 0.5) < REFUND_SHARE / 2)
    ttype[p2p], ttype[cash], ttype[refund] = ev.P2P_TRANSFER, ev.CASH_WITHDRAWAL, ev.REFUND
    merchant_txn = ~p2p & ~cash

    # merchant: the favourite of the category (at home, by loyalty) or one from the local/online pool
    category = c.pick_category(customer, u[:, U_CATEGORY])
    loyal = at_home & (u[:, U_LOYAL] < _CATEGORY_LOYALTY[category])
    wants_online = u[:, U_CHANNEL] < _CATEGORY_ONLINE[category]
    merchant = np.where(loyal, c.favourite[customer, category],
                        pools.pick(category, city, wants_online, u[:, U_PICK]))
    merchant = np.where(merchant_txn, merchant, -1)
    online = merchant_txn & m.is_online[np.maximum(merchant, 0)]
    category = np.where(merchant_txn, m.category[np.maximum(merchant, 0)], -1)

    # payment mode from the customer's holdings: online may use net banking and BNPL, shops may not
    mode = c.pick_mode(customer, online, u[:, U_MODE])
    mode[p2p] = ev.UPI
    mode[cash] = ev.DEBIT_CARD
    instrument = customer * len(ev.PAYMENT_MODES) + mode

    # channel and entry mode follow the mode and where the customer is
    entry_u = u[:, U_ENTRY]
    is_card = (mode == ev.DEBIT_CARD) | (mode == ev.CREDIT_CARD)
    channel = np.where(online, np.where(entry_u < 0.55, ev.IN_APP, ev.ECOMMERCE),
                       np.where(is_card, ev.POS, ev.QR))
    channel[p2p] = ev.IN_APP
    entry = np.full(n, ev.CNP, dtype=np.int64)
    card_present = ~online & is_card
    entry[card_present] = np.select([entry_u[card_present] < 0.55, entry_u[card_present] < 0.90],
                                    [ev.CHIP, ev.CONTACTLESS], ev.SWIPE)
    entry[cash] = ev.CHIP
    upi = mode == ev.UPI
    entry[upi & ~online] = ev.QR_SCAN
    entry[upi & (online | p2p)] = np.where(entry_u[upi & (online | p2p)] < 0.93, ev.UPI_INTENT, ev.UPI_COLLECT)
    wallet_offline = (mode == ev.WALLET) & ~online
    entry[wallet_offline] = ev.QR_SCAN

    # amount: lognormal per category, scaled by the customer and the city's cost of living
    z = np.sqrt(-2.0 * np.log1p(-u[:, U_AMOUNT1])) * np.cos(2.0 * np.pi * u[:, U_AMOUNT2])
    cat = np.maximum(category, 0)
    median = np.where(merchant_txn, _CATEGORY_MEDIAN[cat], P2P_MEDIAN_INR)
    sigma = np.where(merchant_txn, _CATEGORY_SIGMA[cat], P2P_SIGMA)
    rupees = median * np.exp(sigma * z) * c.amount_scale[customer] * _COST[city]
    rupees[refund] *= 0.6
    rupees[p2p] = np.maximum(np.round(rupees[p2p], -1), 10.0)            # people send round sums
    rupees[cash] = np.clip(np.round(rupees[cash] * 4, -2), 100, 10_000)   # ATM notes, daily cap
    amount = np.maximum(np.round(rupees * 100), 100).astype(np.int64)

    # location: the merchant's for shops, the city centre (or home) otherwise
    lat = np.where(at_home, c.home_lat[customer], CITY_LAT[city])
    lon = np.where(at_home, c.home_lon[customer], CITY_LON[city])
    shop = merchant_txn & ~online
    lat[shop], lon[shop] = m.latitude[merchant[shop]], m.longitude[merchant[shop]]

    # devices for app/online/UPI payments, terminals for card-present ones
    uses_device = online | upi | (mode == ev.WALLET)
    device = np.where(uses_device, c.device_start[customer] + np.minimum(
        (u[:, U_DEVICE] ** 3 * c.device_count[customer]).astype(np.int64), c.device_count[customer] - 1), -1)
    shop_merchant = np.maximum(merchant, 0)
    slot = np.minimum((u[:, U_TERMINAL] * m.terminal_count[shop_merchant]).astype(np.int64),
                      np.maximum(m.terminal_count[shop_merchant] - 1, 0))
    terminal = np.where(card_present & ~cash & (m.terminal_count[shop_merchant] > 0),
                        m.terminal_start[shop_merchant] + slot, -1)
    terminal[cash] = m.atm_terminal(city[cash])

    # declines: ~1% base, more for large amounts, online, and customers less at home with apps
    rupee_amount = amount / 100.0
    p_decline = (BASE_DECLINE + 0.02 * (rupee_amount > 20_000) + 0.03 * (rupee_amount > 50_000)
                 + 0.008 * online + 0.015 * (1.0 - c.digital_familiarity[customer]))
    declined = u[:, U_DECLINE] < p_decline
    # card rail reasons on [0, 1), UPI rail reasons on [1, 2): one lookup for both
    reason = _REASON_CODE[np.minimum(np.searchsorted(_REASON_CUM, u[:, U_REASON] + upi, side="right"),
                                     len(_REASON_CODE) - 1)]
    payee = np.where(p2p, c.payee_start[customer] + np.minimum(
        (u[:, U_PICK] * c.payee_count[customer]).astype(np.int64), c.payee_count[customer] - 1), -1)
    minus_one = np.full(n, -1, dtype=np.int64)
    return EventColumns(
        customer=customer, seq=seq, time_us=times, merchant=merchant, payee=payee, amount_paise=amount,
        payment_mode=mode, instrument=instrument, channel=channel, entry_mode=entry, transaction_type=ttype,
        city=city, latitude=lat, longitude=lon, device=device, terminal=terminal,
        status=declined.astype(np.int64), decline_reason=np.where(declined, reason, -1),
        fraud_type=minus_one, scenario=minus_one.copy(), anomaly_type=minus_one.copy(),
        severity=np.zeros(n), label_delay_us=np.zeros(n, dtype=np.int64),
    )


def poisson_quantile(mean: npt.NDArray[np.float64], u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Poisson(mean) draws by inverse CDF of the uniforms `u`, vectorised over rows.

    >>> poisson_quantile(np.array([0.0, 3.0, 3.0]), np.array([0.99, 0.05, 0.5])).tolist()
    [0, 1, 3]
    """
    if not len(mean):
        return np.zeros(0, dtype=np.int64)
    top = int(np.max(mean) + 12 * np.sqrt(np.max(mean)) + 12)
    # pmf(k) = pmf(k-1) * mean / k: a running product instead of an exp per cell
    ratios = mean[:, None] / np.arange(1, top, dtype=np.float64)[None, :]
    pmf = np.empty((len(mean), top))
    pmf[:, 0] = np.exp(-mean)
    np.cumprod(ratios, axis=1, out=pmf[:, 1:])
    pmf[:, 1:] *= pmf[:, :1]
    cdf = np.cumsum(pmf, axis=1, out=pmf)
    return np.minimum((cdf <= u[:, None]).sum(axis=1), top - 1).astype(np.int64)


def _strictly_increasing(member: npt.NDArray[np.int64], times: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nudge equal consecutive times of one customer apart by 1 µs (rows grouped by member, sorted)."""
    times = times.copy()
    while True:
        same = np.flatnonzero((member[1:] == member[:-1]) & (times[1:] <= times[:-1])) + 1
        if not len(same):
            return times
        times[same] = times[same - 1] + 1
