"""Declines: where a payment is declined (its context) and the reasons, with their response codes.

Tables and small pure functions only; a figure marked *estimate* is our reading of public reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

APPROVED_RESPONSE_CODE = "00"  # ISO 8583 "approved" and NPCI UPI "success"


# Where a payment is declined decides what can go wrong: a PIN exists only at a terminal (a POS chip/swipe
# read or an ATM), a card number is typed only card-not-present, a card can expire but an account cannot,
# and only a collect request can expire or be refused by the payer.
DECLINE_CONTEXTS: tuple[str, ...] = ("card_present", "card_not_present", "atm", "account", "upi", "upi_collect")
_CARD = frozenset(("card_present", "card_not_present", "atm"))
_CARD_AND_ACCOUNT = _CARD | {"account"}
_UPI = frozenset(("upi", "upi_collect"))


@dataclass(frozen=True, slots=True)
class DeclineReason:
    reason: str
    response_code: str
    weight: float  # relative frequency among the declines of the contexts it occurs in (*estimate*)
    contexts: frozenset[str]  # of DECLINE_CONTEXTS; card and account codes are ISO 8583, UPI's NPCI's


DECLINE_REASONS: tuple[DeclineReason, ...] = (
    DeclineReason("insufficient_funds", "51", 0.30, _CARD_AND_ACCOUNT),
    DeclineReason("do_not_honour", "05", 0.18, _CARD_AND_ACCOUNT),
    DeclineReason("incorrect_pin", "55", 0.15, frozenset(("card_present", "atm"))),
    DeclineReason("issuer_unavailable", "91", 0.10, _CARD_AND_ACCOUNT),
    DeclineReason("exceeds_withdrawal_limit", "61", 0.08, _CARD_AND_ACCOUNT),
    DeclineReason("transaction_not_permitted", "57", 0.07, _CARD_AND_ACCOUNT),
    DeclineReason("expired_card", "54", 0.05, _CARD),
    DeclineReason("invalid_card_number", "14", 0.04, frozenset(("card_not_present",))),
    DeclineReason("exceeds_frequency_limit", "65", 0.03, _CARD_AND_ACCOUNT),
    DeclineReason("insufficient_funds", "Z9", 0.34, _UPI),
    DeclineReason("invalid_mpin", "ZM", 0.20, _UPI),
    DeclineReason("debit_failed", "U30", 0.12, _UPI),
    DeclineReason("per_txn_limit_exceeded", "Z8", 0.08, _UPI),
    DeclineReason("remitter_cbs_offline", "XY", 0.07, _UPI),
    DeclineReason("risk_threshold_exceeded", "U16", 0.06, _UPI),
    DeclineReason("frequency_limit_exceeded", "Z7", 0.05, _UPI),
    DeclineReason("collect_request_expired", "U69", 0.05, frozenset(("upi_collect",))),
    DeclineReason("declined_by_customer", "ZA", 0.03, frozenset(("upi_collect",))),
)


def decline_contexts(card: npt.NDArray[np.bool_], online: npt.NDArray[np.bool_], cash: npt.NDArray[np.bool_],
                     upi: npt.NDArray[np.bool_], collect: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The index in DECLINE_CONTEXTS of each payment: a card's at an ATM, online or at a terminal; UPI's
    as a collect request or not; every other mode's (net banking, wallet, BNPL) an account's.

    >>> y, n = np.array([True]), np.array([False])
    >>> [DECLINE_CONTEXTS[int(decline_contexts(*f)[0])] for f in ((y, y, n, n, n), (n, n, n, y, y), (n, y, n, n, n))]
    ['card_not_present', 'upi_collect', 'account']
    """
    return np.select([card & cash, card & online, card, upi & collect, upi], [2, 1, 0, 5, 4], 3).astype(np.int64)


def decline_reasons_in(context: str) -> tuple[DeclineReason, ...]:
    """The decline reasons that can occur in `context` (one of DECLINE_CONTEXTS)."""
    return tuple(r for r in DECLINE_REASONS if context in r.contexts)
