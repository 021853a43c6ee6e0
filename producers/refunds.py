"""Legitimate refunds: each gives back an earlier approved purchase of its customer.

A row the arrival process makes a refund takes the merchant, payment mode (so the instrument), city and
amount of the customer's latest approved purchase before it in the same chunk of rows; a purchase is
given back at most once, and a refund with nothing to give back is a purchase instead. Its device is the
customer's phone of the refund's own time, when the payment uses one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synfinance.producers import events as ev

I64 = npt.NDArray[np.int64]


def give_back(customer: I64, times: I64, ttype: I64, declined: npt.NDArray[np.bool_], merchant: I64,
              online: npt.NDArray[np.bool_], mode: I64, amount: I64, city: I64, device: I64, phone: I64) -> I64:
    """Rewrite the refund rows in place (all arrays but `city`); returns the city column (a new one when a
    refund moved)."""
    rows = np.flatnonzero(ttype == ev.REFUND)
    if not len(rows):
        return city
    original = earlier_rows(customer, times, (ttype == ev.PURCHASE) & ~declined, rows)
    _, once = np.unique(original, return_index=True)  # a purchase is given back once
    first = np.zeros(len(rows), dtype=bool)
    first[once] = True
    back, gone = rows[first & (original >= 0)], rows[~first | (original < 0)]
    source = original[first & (original >= 0)]
    merchant[back], online[back], mode[back] = merchant[source], online[source], mode[source]
    city = city.copy()
    city[back] = city[source]
    amount[back], declined[back] = amount[source], False
    device[back] = np.where(online[back] | (mode[back] == ev.UPI) | (mode[back] == ev.WALLET), phone[back], -1)
    ttype[gone] = ev.PURCHASE
    return city


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

