"""The one amount model: what a payment costs and how its amount is written, for every transaction.

Legitimate rows and fraud scenarios draw from the same model (`rupees`): a lognormal per merchant category
(or for P2P transfers), scaled by the customer's ticket size and the city's cost of living; a scenario
only shifts it (a takeover buys 2-6x what the customer would). `shape` then writes the amount the way
that kind of payment is written in India, whoever makes it:

- online checkouts at price points: ..9 below 100, ..49 / ..99 below 1,000, ..99 below 10,000, ..499 /
  ..999 above (e.g. 499, 1,299, 9,999, 24,999);
- bills, fuel, fares and insurance premiums in rupees and paise;
- shop counters and QR codes in whole rupees;
- person-to-person transfers in round sums (tens, hundreds from 1,000), at most the UPI limit of
  1 lakh per transaction (NPCI);
- ATM withdrawals in hundreds, 100..10,000 (the common per-withdrawal cap).

>>> shape(np.array([123_45, 123_45, 123_45, 1_234_56]), np.array([3, 2, 0, -1]), np.array([True, False, False, False]),
...       np.array([0, 0, 0, 1])).tolist()
[14900, 12345, 12300, 120000]
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from synfinance.producers import events as ev
from synfinance.producers.world.categories import CATEGORIES, CATEGORY_NAMES

P2P_MEDIAN_INR, P2P_SIGMA = 1_200.0, 1.1   # lognormal; mean ~2,200 (Worldline 2H 2024 P2P avg 2,666)
UPI_P2P_LIMIT_PAISE = 1_00_000_00          # NPCI: 1 lakh per P2P transaction
UPI_P2M_LIMIT_PAISE = 5_00_000_00          # NPCI: up to 5 lakh per payment in the categories allowed the most
UPI_P2M_MAX_PAISE = UPI_P2M_LIMIT_PAISE - 100  # INR 4,99,999: under the limit, and a price point too
ATM_MAX_PAISE = 10_000_00
PAISE_CATEGORIES = ("fuel", "utilities", "insurance", "government_services", "travel")
PRICE_POINT_CATEGORIES = ("ecommerce", "fashion", "electronics", "digital_goods", "entertainment", "telecom",
                          "education", "jewellery", "food_dining", "healthcare", "groceries", "cash_like",
                          "local_transport")

# Category medians are those of world.categories, times one factor fitted so that the stream's legitimate UPI P2M
# payments average UPI_P2M_AVG_TICKET_INR (INR 635, Worldline 2024): customers' own ticket scales, city
# costs of living and big-ticket anomalies raise the mean above the categories' lognormal mean
# (`p2m_mean_ticket_inr`). Measured by `synfinance validate`.
P2M_PRICE_CALIBRATION = 0.69
CATEGORY_MEDIAN = np.array([c.amount_median_inr for c in CATEGORIES]) * P2M_PRICE_CALIBRATION
CATEGORY_SIGMA = np.array([c.amount_sigma for c in CATEGORIES])
_MEDIANS, _SIGMAS = CATEGORY_MEDIAN.tolist(), CATEGORY_SIGMA.tolist()
_PAISE = np.array([name in PAISE_CATEGORIES for name in CATEGORY_NAMES] + [False])  # index -1: no merchant
_PRICE_POINT = np.array([name in PRICE_POINT_CATEGORIES for name in CATEGORY_NAMES] + [False])


def rupees(category: npt.NDArray[np.int64], z: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
           cost: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The price of a purchase in `category` (-1: a P2P transfer) for standard normal draws `z`, a customer
    ticket scale and a cost-of-living factor."""
    merchant = category >= 0
    cat = np.maximum(category, 0)
    median = np.where(merchant, CATEGORY_MEDIAN[cat], P2P_MEDIAN_INR)
    sigma = np.where(merchant, CATEGORY_SIGMA[cat], P2P_SIGMA)
    return median * np.exp(sigma * z) * scale * cost


def rupees_one(category: int, u1: float, u2: float, scale: float, cost: float) -> float:
    """`rupees` of one purchase (`normal(u1, u2)` as z), in plain floats: scenarios price one row at a time."""
    z = math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)
    median, sigma = (_MEDIANS[category], _SIGMAS[category]) if category >= 0 else (P2P_MEDIAN_INR, P2P_SIGMA)
    return median * math.exp(sigma * z) * scale * cost


def normal(u1: npt.NDArray[np.float64], u2: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Standard normal draws from two uniforms (Box-Muller), as every amount uses."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def price_point(paise: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The next price point at or above each amount, in paise (see the module docstring)."""
    r = paise / 100.0
    # the step of the band the result falls in (r + 1 > 100 lands at 149 or above, not at 109)
    step = np.select([r + 1 <= 100, r + 1 <= 1_000, r + 1 <= 10_000], [10, 50, 100], 500)
    return ((np.ceil((r + 1) / step) * step - 1) * 100).astype(np.int64)


def shape(paise: npt.NDArray[np.int64], category: npt.NDArray[np.int64], online: npt.NDArray[np.bool_],
          ttype: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each amount written as its kind of payment writes it (`category` -1: no merchant)."""
    p2p = ttype == ev.P2P_TRANSFER
    cash = ttype == ev.CASH_WITHDRAWAL
    whole = np.round(paise / 100.0).astype(np.int64) * 100
    out = np.where(_PAISE[category], paise, np.where(online & _PRICE_POINT[category], price_point(paise), whole))
    tens = np.where(paise < 1_000_00, np.round(paise / 1_000.0) * 1_000, np.round(paise / 10_000.0) * 10_000)
    out = np.where(p2p, np.clip(tens.astype(np.int64), 10_00, UPI_P2P_LIMIT_PAISE), out)
    hundreds = np.clip(np.round(paise / 10_000.0).astype(np.int64) * 10_000, 100_00, ATM_MAX_PAISE)
    out = np.where(cash, hundreds, out)
    return np.maximum(out, 100)
