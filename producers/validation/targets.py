"""Calibration targets: each a figure the catalogue cites, the same quantity measured on the records.

Measured on the legitimate transactions (the truth of their labels; the stream's 2% fraud is far above a
real market's, so it is left out) that are payments (ATM cash is not a digital payment). A target passes
when the measured value is within TOLERANCE (15%) of the cited one, relative, or for a share within three
standard errors of it. The standard error is the sample's: rows are clustered by customer (each customer
keeps a mix of their own, so ten thousand customers are not a million independent draws), and it is
computed from the per-customer totals; a category's share is clustered by merchant too (a category of a
few shops moves with them), and the larger of the two errors is used.

>>> Target("x", 0.12, "", lambda s: (0.0, 0.0)).passes(0.10, 0.01), Target("x", 0.12, "", lambda s: (0.0, 0.0)
... ).passes(0.10, 0.0)
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synfinance.common.units import DAY_US, HOUR_US, IST_OFFSET_US
from synfinance.producers.validation.columns import Stream
from synfinance.producers.world.calendar import festival_days
from synfinance.producers.world.categories import (
    CATEGORIES,
    CATEGORY_WEIGHTS,
    UPI_P2M_AVG_TICKET_INR,
    UPI_P2P_AVG_TICKET_INR,
)
from synfinance.producers.world.geography import (
    NPCI_STATE_UPI_JULY_2025,
    NPCI_STATES,
    NPCI_STATES_COMBINED_SHARE,
)
from synfinance.producers.world.payment_rails import (
    CARD_NETWORKS,
    P2P_SHARE_OF_UPI,
    PAYMENT_MODE_SHARES,
    UPI_DECLINE_RATE,
)

TOLERANCE = 0.15
STANDARD_ERRORS = 3.0
MODE_SOURCE = "RBI Payment System Indicators / NPCI, FY2024-25 (catalogue.PAYMENT_MODE_SHARES)"
TICKET_SOURCE = "Worldline India Digital Payments Report 2024 (catalogue)"
STATE_SOURCE = "NPCI state-wise UPI, July 2025 (geography.NPCI_STATE_UPI_JULY_2025)"
COMBINED_SOURCE = "PhonePe Pulse 2024 state counts (geography.PHONEPE_STATE_COUNT_SHARE_2024)"


@dataclass(frozen=True)
class Target:
    name: str
    cited: float
    source: str
    measure: Callable[[Stream], tuple[float, float]]  # the value and its standard error (0: not a share)

    def passes(self, measured: float, standard_error: float) -> bool:
        allowed = max(TOLERANCE * abs(self.cited), STANDARD_ERRORS * standard_error)
        return bool(abs(measured - self.cited) <= allowed)


def _payments(s: Stream) -> np.ndarray:
    return ~s.is_fraud & ~s.transactions.equals("transaction_type", "CASH_WITHDRAWAL")


def _share(s: Stream, part: np.ndarray, whole: np.ndarray,
           clusters: tuple[str, ...] = ("customer_id",)) -> tuple[float, float]:
    """The share of `whole` rows that are `part`, and its standard error clustered by each of `clusters` (the
    largest: a category's payments cluster by merchant as much as by customer, when it has few shops)."""
    n = int(whole.sum())
    if not n:
        return float("nan"), 0.0
    share = float((part & whole).sum() / n)
    errors = []
    for field in clusters:
        key = s.transactions.codes[field]
        hits = np.bincount(key[part & whole], minlength=len(s.transactions.vocab[field]))
        rows = np.bincount(key[whole], minlength=len(hits))
        errors.append(float(np.sqrt(((hits - share * rows) ** 2).sum()) / n))
    return share, max(errors)


def _mode_share(mode: str) -> Callable[[Stream], tuple[float, float]]:
    def measure(s: Stream) -> tuple[float, float]:
        return _share(s, s.transactions.equals("payment_mode", mode.upper()), _payments(s))
    return measure


def _upi(s: Stream, ttype: str) -> np.ndarray:
    t = s.transactions
    return ~s.is_fraud & t.equals("payment_mode", "UPI") & t.equals("transaction_type", ttype)


def _p2p_share(s: Stream) -> tuple[float, float]:
    p2p = _upi(s, "P2P_TRANSFER")
    return _share(s, p2p, p2p | _upi(s, "PURCHASE"))


def _ticket(ttype: str) -> Callable[[Stream], tuple[float, float]]:
    def measure(s: Stream) -> tuple[float, float]:
        rows = _upi(s, ttype)
        return (float(s.transactions.number("amount_paise")[rows].mean() / 100) if rows.any() else float("nan")), 0.0
    return measure


def _upi_declines(s: Stream) -> tuple[float, float]:
    t = s.transactions
    upi = _payments(s) & t.equals("payment_mode", "UPI") & ~t.equals("transaction_type", "REFUND")
    return _share(s, t.equals("status", "DECLINED"), upi)


def _category_share(name: str) -> Callable[[Stream], tuple[float, float]]:
    def measure(s: Stream) -> tuple[float, float]:
        return _share(s, s.transactions.equals("merchant_category", name), _upi(s, "PURCHASE"),
                      ("customer_id", "merchant_id"))
    return measure


def _network_share(card_type: str, network: str) -> Callable[[Stream], tuple[float, float]]:
    """The cited shares are of cards, not of payments: count each card (instrument) once (binomial error)."""
    def measure(s: Stream) -> tuple[float, float]:
        t = s.transactions
        cards = _payments(s) & t.equals("card_type", card_type.upper())
        used = len(np.unique(t.codes["instrument_id"][cards]))
        mine = len(np.unique(t.codes["instrument_id"][cards & t.equals("card_network", network.upper())]))
        share = mine / max(used, 1)
        return share, float(np.sqrt(share * (1 - share) / max(used, 1)))
    return measure


def _among_npci_states(state: str, by_value: bool) -> Callable[[Stream], tuple[float, float]]:
    """A state's share of the payments (or their value) made in the seven states NPCI's release names: the
    release leaves many payments unclassified, so only ratios between its states compare."""
    def measure(s: Stream) -> tuple[float, float]:
        t = s.transactions
        named = _payments(s) & t.isin("state", NPCI_STATES)
        if not by_value:
            return _share(s, t.equals("state", state), named)
        amount = t.number("amount_paise")
        return float(amount[named & t.equals("state", state)].sum() / max(amount[named].sum(), 1.0)), 0.0
    return measure


def _npci_states_share(s: Stream) -> tuple[float, float]:
    return _share(s, s.transactions.isin("state", NPCI_STATES), _payments(s))


# NPCI's busiest days: 754.37 million UPI payments on 18 October 2025 (Dhanteras, two days before Diwali)
# against October's 20.70 billion over 31 days; 707 million on 2 August 2025 (a month start, no festival)
# against August's 20.01 billion (NPCI monthly statistics and releases).
DIWALI_MONTH_PEAK_LIFT = round(754.37e6 / (20.70e9 / 31) - 1, 3)  # 0.130
AUGUST_PEAK_LIFT = round(707e6 / (20.01e9 / 31) - 1, 3)  # 0.095
PEAK_SOURCE = "NPCI daily records: 18 Oct 2025, 2 Aug 2025 (targets.py)"


def _peak_lift(month_of: Callable[[int], str]) -> Callable[[Stream], tuple[float, float]]:
    """The busiest day's payment count over the daily mean of a month (IST days) that the data covers whole,
    less 1; `month_of(year)` names the month ("YYYY-MM"). NaN when no such month is whole in the data."""
    def measure(s: Stream) -> tuple[float, float]:
        times = s.transactions.number("event_time")[_payments(s)]
        if not len(times):
            return float("nan"), 0.0
        local = times.astype(np.int64) + IST_OFFSET_US
        days = (local // DAY_US).astype("datetime64[D]")
        first, last = int(local.min()), int(local.max())
        for year in range(int(str(days.min())[:4]), int(str(days.max())[:4]) + 1):
            month = np.datetime64(month_of(year), "M")
            start, end = month.astype("datetime64[D]"), (month + 1).astype("datetime64[D]")
            start_us, end_us = (int(d.astype("datetime64[us]").astype(np.int64)) for d in (start, end))
            if first > start_us + HOUR_US or last < end_us - HOUR_US:  # the month is not all in the data
                continue
            counts = np.bincount((days[(days >= start) & (days < end)] - start).astype(np.int64),
                                 minlength=int((end - start).astype(np.int64)))
            return float(counts.max() / counts.mean() - 1.0), 0.0
        return float("nan"), 0.0
    return measure


def _diwali_month(year: int) -> str:
    return str(festival_days("diwali", year)[0])[:7]


def _npci_state_targets() -> tuple[Target, ...]:
    volume = sum(v for v, _ in NPCI_STATE_UPI_JULY_2025.values())
    value = sum(v for _, v in NPCI_STATE_UPI_JULY_2025.values())
    return (
        Target("share of payments in the seven NPCI states", NPCI_STATES_COMBINED_SHARE, COMBINED_SOURCE,
               _npci_states_share),
        *(Target(f"{state} share of the seven states' payments", round(v / volume, 4), STATE_SOURCE,
                 _among_npci_states(state, False)) for state, (v, _) in NPCI_STATE_UPI_JULY_2025.items()),
        *(Target(f"{state} share of the seven states' value", round(v / value, 4), STATE_SOURCE,
                 _among_npci_states(state, True)) for state, (_, v) in NPCI_STATE_UPI_JULY_2025.items()),
    )


TARGETS: tuple[Target, ...] = (
    *(Target(f"{mode} share of payments", share, MODE_SOURCE, _mode_share(mode))
      for mode, share in PAYMENT_MODE_SHARES.items()),
    Target("P2P share of UPI payments", P2P_SHARE_OF_UPI, "SBI Research on NPCI data (catalogue)", _p2p_share),
    Target("UPI P2M average ticket, INR", UPI_P2M_AVG_TICKET_INR, TICKET_SOURCE, _ticket("PURCHASE")),
    Target("UPI P2P average ticket, INR", UPI_P2P_AVG_TICKET_INR, TICKET_SOURCE, _ticket("P2P_TRANSFER")),
    Target("UPI decline rate", UPI_DECLINE_RATE, "NPCI UPI Ecosystem Statistics, Aug 2025 (catalogue)",
           _upi_declines),
    *(Target(f"{c.name} share of UPI P2M", float(w), "catalogue.CATEGORIES p2m_volume_share (estimates)",
             _category_share(c.name)) for c, w in zip(CATEGORIES, CATEGORY_WEIGHTS, strict=True)),
    *(Target(f"{network} share of {card_type} cards used", share, "RBI/NPCI card statistics (catalogue)",
             _network_share(card_type, network))
      for card_type, networks in CARD_NETWORKS.items() for network, share in networks.items()),
    *_npci_state_targets(),
    Target("busiest day of the Diwali month over its daily mean, lift", DIWALI_MONTH_PEAK_LIFT, PEAK_SOURCE,
           _peak_lift(_diwali_month)),
    Target("busiest day of August over its daily mean, lift", AUGUST_PEAK_LIFT, PEAK_SOURCE,
           _peak_lift(lambda year: f"{year}-08")),
)
