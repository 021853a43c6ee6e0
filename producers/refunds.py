"""Refunds: each gives back an earlier approved purchase of its customer, and names it.

A row the arrival process makes a refund takes the merchant, payment mode (so the instrument), city and
amount of the customer's latest approved purchase before it in the same chunk of rows; a purchase is
given back at most once, and a refund with nothing to give back is a purchase instead. Its device is the
customer's phone of the refund's own time, when the payment uses one. A fraud scenario's refund
(`refund_abuse`) copies the purchase it planned a few hours before.

Either way the refund records its purchase's event time as generated (`original_time_us`); `link` turns
that into the purchase's `seq` once the stream has numbered the rows of a block (the record's
`original_transaction_id`). The purchase is looked up by (customer, time) among the block's rows, then
among the approved purchases of the previous block's last `REFUND_WINDOW_US` (`Purchases`, carried from
block to block), and must be an approved purchase at the refund's merchant with its instrument and at
least its amount.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from synfinance.common.units import HOUR_US
from synfinance.producers import events as ev
from synfinance.producers.events import EventColumns

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
# The most a refund follows its purchase across a block boundary: a legitimate refund gives back a purchase of
# its own block; a refund_abuse refund comes 2-72 h after its purchase (producers.scenarios.planners).
REFUND_WINDOW_US = 72 * HOUR_US
_KEY_SHIFT = 42  # (customer << 42) + time since the block's start: the stream's by-customer sort key


def give_back(customer: I64, times: I64, ttype: I64, declined: Mask, merchant: I64, online: Mask, mode: I64,
              amount: I64, city: I64, device: I64, phone: I64) -> tuple[I64, I64]:
    """Rewrite the refund rows in place (all arrays but `city`); returns the city column (a new one when a
    refund moved) and each row's original: the row it gives back, or -1."""
    original = np.full(len(customer), -1, dtype=np.int64)
    rows = np.flatnonzero(ttype == ev.REFUND)
    if not len(rows):
        return city, original
    source = earlier_rows(customer, times, (ttype == ev.PURCHASE) & ~declined, rows)
    _, once = np.unique(source, return_index=True)  # a purchase is given back once
    first = np.zeros(len(rows), dtype=bool)
    first[once] = True
    back, gone = rows[first & (source >= 0)], rows[~first | (source < 0)]
    source = source[first & (source >= 0)]
    merchant[back], online[back], mode[back] = merchant[source], online[source], mode[source]
    city = city.copy()
    city[back] = city[source]
    amount[back], declined[back] = amount[source], False
    device[back] = np.where(online[back] | (mode[back] == ev.UPI) | (mode[back] == ev.WALLET), phone[back], -1)
    ttype[gone] = ev.PURCHASE
    original[back] = source
    return city, original


def earlier_rows(customer: npt.NDArray[np.int64], times: npt.NDArray[np.int64], eligible: npt.NDArray[np.bool_],
                 rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For each of `rows`, the latest eligible row of the same customer strictly before it in time (-1 if none).

    >>> earlier_rows(np.array([0, 0, 1, 0]), np.array([5, 9, 7, 12]), np.array([True, False, True, True]),
    ...              np.array([1, 2, 3])).tolist()
    [0, -1, 0]
    """
    order = np.lexsort((~eligible, times, customer))  # at equal times an eligible row sorts first
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    last = np.maximum.accumulate(np.where(eligible[order], np.arange(len(order)), -1))
    at = position[rows] - 1  # the row before each one in (customer, time) order, and all before that
    found = np.where(at >= 0, last[np.maximum(at, 0)], -1)
    same = (found >= 0) & (customer[order[np.maximum(found, 0)]] == customer[rows])
    earlier = same & (times[order[np.maximum(found, 0)]] < times[rows])
    return np.where(earlier, order[np.maximum(found, 0)], -1)


@dataclass(frozen=True)
class Purchases:
    """Approved purchases a refund of a later block may give back, sorted by (customer, time as generated)."""

    customer: I64
    time_us: I64
    seq: I64
    merchant: I64
    instrument: I64
    amount_paise: I64

    @classmethod
    def empty(cls) -> Purchases:
        return cls(*(np.empty(0, dtype=np.int64) for _ in fields(cls)))


def link(rows: EventColumns, order: I64 | None, customer: I64, times: I64, seq: I64, carried: Purchases,
         block_start: int, block_end: int) -> Purchases:
    """Set `rows.original_seq` of every refund of a block from its `original_time_us`; returns the purchases a
    refund of the next block may give back.

    `order` puts `rows` in (customer, time as generated) order (None: they are in it); `customer`, `times` (as
    generated, before the stream nudged equal times apart) and `seq` are in that order. `carried`: what the
    previous block's `link` returned. A refund whose purchase is not found keeps -1 (none is expected:
    `synfinance validate` counts a refund without its purchase as a violation)."""
    keys = (customer << _KEY_SHIFT) + (times - block_start)
    refunds = np.flatnonzero(rows.original_time_us >= 0)
    if len(refunds):
        wanted = (rows.customer[refunds] << _KEY_SHIFT) + (rows.original_time_us[refunds] - block_start)
        merchant, instrument = rows.merchant[refunds], rows.instrument[refunds]
        amount = rows.amount_paise[refunds]

        def here(at: I64, of: I64) -> Mask:
            r = at if order is None else order[at]
            return ((rows.transaction_type[r] == ev.PURCHASE) & (rows.status[r] == ev.APPROVED)
                    & (rows.merchant[r] == merchant[of]) & (rows.instrument[r] == instrument[of])
                    & (rows.amount_paise[r] >= amount[of]))

        found = _first_fit(keys, wanted, here)
        rows.original_seq[refunds] = np.where(found >= 0, seq[np.maximum(found, 0)], -1)
        missing = np.flatnonzero(found < 0)
        if len(missing) and len(carried.seq):
            c = carried

            def before(at: I64, of: I64) -> Mask:
                of = missing[of]
                return ((c.merchant[at] == merchant[of]) & (c.instrument[at] == instrument[of])
                        & (c.amount_paise[at] >= amount[of]))

            earlier = _first_fit((c.customer << _KEY_SHIFT) + (c.time_us - block_start), wanted[missing], before)
            rows.original_seq[refunds[missing]] = np.where(earlier >= 0, c.seq[np.maximum(earlier, 0)], -1)
    recent = np.flatnonzero(times >= block_end - REFUND_WINDOW_US)
    source = recent if order is None else order[recent]
    bought = (rows.transaction_type[source] == ev.PURCHASE) & (rows.status[source] == ev.APPROVED)
    recent, source = recent[bought], source[bought]
    return Purchases(customer[recent], times[recent], seq[recent], rows.merchant[source], rows.instrument[source],
                     rows.amount_paise[source])


def _first_fit(keys: I64, wanted: I64, fits: Callable[[I64, I64], Mask]) -> I64:
    """For each of `wanted`, the first position p of the sorted `keys` with keys[p] equal to it for which
    fits(p, its index) holds; -1 if none. Keys are (customer, time) and a customer's times are almost always
    distinct, so this is one searchsorted and one check, a second round only for the rare equal keys."""
    lo = np.searchsorted(keys, wanted, side="left")
    hi = np.searchsorted(keys, wanted, side="right")
    found = np.full(len(wanted), -1, dtype=np.int64)
    for k in range(int((hi - lo).max(initial=0))):
        open_ = np.flatnonzero((found < 0) & (lo + k < hi))
        at = lo[open_] + k
        fit = fits(at, open_)
        found[open_[fit]] = at[fit]
    return found
