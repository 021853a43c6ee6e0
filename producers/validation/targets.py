"""Calibration targets: each a figure the catalogue cites, the same quantity measured on the records.

Measured on the legitimate transactions (the truth of their labels; the stream's 2% fraud is far above a
real market's, so it is left out) that are payments (ATM cash is not a digital payment). A target passes
when the measured value is within TOLERANCE (15%) of the cited one, relative, or for a share within three
standard errors of it. The standard error is the sample's: rows are clustered by customer (each customer
keeps a mix of their own, so ten thousand customers are not a million independent draws), and it is
computed from the per-customer totals.

>>> Target("x", 0.12, "", lambda s: (0.0, 0.0)).passes(0.10, 0.01), Target("x", 0.12, "", lambda s: (0.0, 0.0)
... ).passes(0.10, 0.0)
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synfinance.producers.validation.columns import Stream
from synfinance.producers.world.catalogue import (
    CARD_NETWORKS,
    CATEGORIES,
    CATEGORY_WEIGHTS,
    P2P_SHARE_OF_UPI,
    PAYMENT_MODE_SHARES,
    UPI_P2M_AVG_TICKET_INR,
    UPI_P2P_AVG_TICKET_INR,
)

TOLERANCE = 0.15
STANDARD_ERRORS = 3.0
MODE_SOURCE = "RBI Payment System Indicators / NPCI, FY2024-25 (catalogue.PAYMENT_MODE_SHARES)"
TICKET_SOURCE = "Worldline India Digital Payments Report 2024 (catalogue)"


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


def _share(s: Stream, part: np.ndarray, whole: np.ndarray) -> tuple[float, float]:
    """The share of `whole` rows that are `part`, and its customer-clustered standard error."""
    n = int(whole.sum())
    if not n:
        return float("nan"), 0.0
    customer = s.transactions.codes["customer_id"]
    hits = np.bincount(customer[part & whole], minlength=len(s.transactions.vocab["customer_id"]))
    rows = np.bincount(customer[whole], minlength=len(hits))
    share = hits.sum() / n
    return float(share), float(np.sqrt(((hits - share * rows) ** 2).sum()) / n)


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


def _category_share(name: str) -> Callable[[Stream], tuple[float, float]]:
    def measure(s: Stream) -> tuple[float, float]:
        return _share(s, s.transactions.equals("merchant_category", name), _upi(s, "PURCHASE"))
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


TARGETS: tuple[Target, ...] = (
    *(Target(f"{mode} share of payments", share, MODE_SOURCE, _mode_share(mode))
      for mode, share in PAYMENT_MODE_SHARES.items()),
    Target("P2P share of UPI payments", P2P_SHARE_OF_UPI, "SBI Research on NPCI data (catalogue)", _p2p_share),
    Target("UPI P2M average ticket, INR", UPI_P2M_AVG_TICKET_INR, TICKET_SOURCE, _ticket("PURCHASE")),
    Target("UPI P2P average ticket, INR", UPI_P2P_AVG_TICKET_INR, TICKET_SOURCE, _ticket("P2P_TRANSFER")),
    *(Target(f"{c.name} share of UPI P2M", float(w), "catalogue.CATEGORIES p2m_volume_share (estimates)",
             _category_share(c.name)) for c, w in zip(CATEGORIES, CATEGORY_WEIGHTS, strict=True)),
    *(Target(f"{network} share of {card_type} cards used", share, "RBI/NPCI card statistics (catalogue)",
             _network_share(card_type, network))
      for card_type, networks in CARD_NETWORKS.items() for network, share in networks.items()),
)
