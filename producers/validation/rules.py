"""Consistency rules: fields of one record that must agree, and labels that must be whole.

Each rule names what must hold and returns the rows that break it (`violations`); the report counts them
and a rule with any violation fails. The rules read only the records and the public tables a consumer
may know (the world's categories, MCCs, decline codes, card networks; the city table).

>>> [r.name for r in RULES][:3]
['status_and_reason', 'decline_reason_fits_the_payment', 'card_fields_on_cards_only']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.common.label_delays import CHARGEBACK_MIN_DAYS
from synfinance.common.units import DAY_US
from synfinance.producers.prices import (
    ATM_MAX_PAISE,
    PAISE_CATEGORIES,
    PRICE_POINT_CATEGORIES,
    UPI_P2M_LIMIT_PAISE,
    UPI_P2P_LIMIT_PAISE,
)
from synfinance.producers.validation.columns import Stream
from synfinance.producers.world.categories import ATM_CATEGORY, ATM_MCC, CATEGORIES
from synfinance.producers.world.declines import (
    APPROVED_RESPONSE_CODE,
    DECLINE_CONTEXTS,
    DECLINE_REASONS,
    decline_contexts,
)
from synfinance.producers.world.geography import CITIES, REGIONS
from synfinance.producers.world.payment_rails import NETWORK_PREFIXES, PAN_LENGTH

Mask = npt.NDArray[np.bool_]
CITY_RADIUS_DEG = 0.25  # a transaction happens at a shop or a home of its city (both within ~10 km)
_NETWORK = {name.upper(): name for name in PAN_LENGTH}
_MCC = {c.name: c.mcc for c in CATEGORIES} | {ATM_CATEGORY: ATM_MCC}
_CITY = {c.name: c for c in CITIES}
_REASON_CONTEXTS = {(r.reason, r.response_code): {DECLINE_CONTEXTS.index(c) for c in r.contexts}
                    for r in DECLINE_REASONS}


@dataclass(frozen=True)
class Rule:
    name: str
    statement: str  # what must hold, in one sentence
    violations: Callable[[Stream], Mask]


def _modes(s: Stream) -> tuple[Mask, Mask, Mask]:
    t = s.transactions
    card = t.isin("payment_mode", ("DEBIT_CARD", "CREDIT_CARD"))
    return card, t.equals("payment_mode", "UPI"), t.isin("channel", ("ECOMMERCE", "IN_APP"))


def status_and_reason(s: Stream) -> Mask:
    """An approved payment has no decline reason and response code 00; a declined one has a reason."""
    t = s.transactions
    declined, approved = t.equals("status", "DECLINED"), t.equals("status", "APPROVED")
    no_reason = t.null("decline_reason")
    ok = (approved & no_reason & t.equals("response_code", APPROVED_RESPONSE_CODE)) | (declined & ~no_reason)
    return ~ok


def decline_reason_fits_the_payment(s: Stream) -> Mask:
    """A PIN only at a terminal, a typed card number only online, a collect only on a collect request."""
    t = s.transactions
    card, upi, online = _modes(s)
    context = decline_contexts(card, online, t.equals("transaction_type", "CASH_WITHDRAWAL"), upi,
                               t.equals("entry_mode", "UPI_COLLECT"))
    reasons, code_list = t.text("decline_reason"), t.text("response_code")
    bad = np.zeros(t.n, dtype=bool)
    for i in np.flatnonzero(t.equals("status", "DECLINED")).tolist():
        bad[i] = int(context[i]) not in _REASON_CONTEXTS.get((reasons[i], code_list[i]), ())
    return bad


def card_fields_on_cards_only(s: Stream) -> Mask:
    """Card rows name their network, type, BIN and masked PAN; no other row names any of them."""
    t = s.transactions
    card, _, _ = _modes(s)
    fields = ("card_network", "card_type", "card_bin", "masked_pan")
    present = np.column_stack([~t.null(f) for f in fields])
    return np.where(card, ~present.all(axis=1), present.any(axis=1))


def card_number_fits_its_network(s: Stream) -> Mask:
    """The BIN starts with one of its network's prefixes; the PAN has the network's length and that BIN."""
    t = s.transactions
    card, _, _ = _modes(s)
    network = t.mapped("card_network", lambda v: _NETWORK.get(v or "", ""))
    bins, pans = t.text("card_bin"), t.text("masked_pan")
    bad = np.zeros(t.n, dtype=bool)
    for i in np.flatnonzero(card).tolist():
        name, card_bin, pan = network[i], bins[i] or "", pans[i] or ""
        bad[i] = not (name and card_bin.startswith(NETWORK_PREFIXES[name]) and pan.startswith(card_bin)
                      and len(pan) == PAN_LENGTH[name])
    return bad


def vpas_on_upi_only(s: Stream) -> Mask:
    """UPI rows name the payer's VPA, and the payee's unless a card-like wallet paid; others name neither."""
    t = s.transactions
    _, upi, _ = _modes(s)
    payer, payee = ~t.null("payer_vpa"), ~t.null("payee_vpa")
    to_someone = t.isin("transaction_type", ("PURCHASE", "P2P_TRANSFER"))
    return np.where(upi, ~payer | (to_someone & ~payee), payer | payee)


def merchant_fields_agree(s: Stream) -> Mask:
    """P2P has no merchant, category or MCC; every other row has all three, the category is in the
    catalogue and the MCC is the category's (cash at an ATM: atm_cash_withdrawal, 6011)."""
    t = s.transactions
    p2p = t.equals("transaction_type", "P2P_TRANSFER")
    cash = t.equals("transaction_type", "CASH_WITHDRAWAL")
    fields = np.column_stack([~t.null(f) for f in ("merchant_category", "mcc")])
    category_mcc = np.array([_MCC.get(c) for c in t.text("merchant_category")], dtype=object)
    right = (category_mcc == t.text("mcc")) & (category_mcc != None)  # noqa: E711 (elementwise)
    has_merchant = ~t.null("merchant_id")
    return np.where(p2p, fields.any(axis=1) | has_merchant, ~right | (~has_merchant & ~cash))


def geography_agrees(s: Stream) -> Mask:
    """City, state, region and tier are the city table's; the coordinates lie in the city."""
    t = s.transactions
    city = t.mapped("city", lambda v: _CITY.get(v))
    known = np.array([c is not None for c in city])
    state = np.array([c.state if c else None for c in city], dtype=object)
    region = np.array([c.region if c else None for c in city], dtype=object)
    tier = np.array([c.tier if c else -1 for c in city], dtype=np.float64)
    lat = np.array([c.lat if c else np.nan for c in city])
    lon = np.array([c.lon if c else np.nan for c in city])
    near = (np.abs(t.number("latitude") - lat) <= CITY_RADIUS_DEG) & (np.abs(t.number("longitude") - lon)
                                                                       <= CITY_RADIUS_DEG)
    ok = (known & (state == t.text("state")) & (region == t.text("region")) & (tier == t.number("city_tier"))
          & near & t.isin("region", REGIONS))
    return ~ok


_CARD_ENTRY = {("POS", "CHIP"), ("POS", "CONTACTLESS"), ("POS", "SWIPE"), ("ECOMMERCE", "CNP"), ("IN_APP", "CNP")}
_ONLINE = {("ECOMMERCE", "CNP"), ("IN_APP", "CNP")}
_ENTRY_BY_MODE = {
    "DEBIT_CARD": _CARD_ENTRY, "CREDIT_CARD": _CARD_ENTRY,
    "UPI": {("IN_APP", "UPI_INTENT"), ("IN_APP", "UPI_COLLECT"), ("ECOMMERCE", "UPI_INTENT"),
            ("ECOMMERCE", "UPI_COLLECT"), ("QR", "QR_SCAN")},
    "WALLET": _ONLINE | {("QR", "QR_SCAN")}, "NET_BANKING": _ONLINE, "BNPL": _ONLINE,
}


def channel_and_entry_agree(s: Stream) -> Mask:
    """Cards: chip, contactless or swipe at a POS terminal, CNP online; UPI: intent or collect in an app or
    online, a scan at a QR code; wallets: a QR scan or online; net banking and BNPL: online only."""
    t = s.transactions
    names = ("payment_mode", "channel", "entry_mode")
    # one verdict per distinct (mode, channel, entry) code triple, not per row
    combos, row_combo = np.unique(np.column_stack([t.codes[n] for n in names]), axis=0, return_inverse=True)
    mode, channel, entry = ([t.vocab[n][k] for k in combos[:, i].tolist()] for i, n in enumerate(names))
    bad = np.array([(c, e) not in _ENTRY_BY_MODE.get(m, ()) for m, c, e in zip(mode, channel, entry, strict=True)],
                   dtype=bool)
    return bad[row_combo.reshape(-1)] if t.n else np.zeros(0, dtype=bool)


def where_it_happened(s: Stream) -> Mask:
    """A terminal exactly on card-present rows; a device and an IP address on app and online rows."""
    t = s.transactions
    card, _, online = _modes(s)
    present = card & t.equals("channel", "POS")
    terminal, device, ip = ~t.null("terminal_id"), ~t.null("device_id"), ~t.null("ip_address")
    return (terminal != present) | (online & ~(device & ip))


def amounts_within_limits(s: Stream) -> Mask:
    """Positive INR amounts; UPI P2P at most 1 lakh, other UPI at most 5 lakh; ATM cash in hundreds,
    100 to 10,000."""
    t = s.transactions
    amount = t.number("amount_paise")
    _, upi, _ = _modes(s)
    p2p, cash = t.equals("transaction_type", "P2P_TRANSFER"), t.equals("transaction_type", "CASH_WITHDRAWAL")
    bad = (amount <= 0) | ~t.equals("currency", "INR")
    bad |= upi & p2p & (amount > UPI_P2P_LIMIT_PAISE)
    bad |= upi & (amount > UPI_P2M_LIMIT_PAISE)
    bad |= cash & ((amount % 10_000 != 0) | (amount < 100_00) | (amount > ATM_MAX_PAISE))
    return bad


def amounts_written_as_paid(s: Stream) -> Mask:
    """Amounts are written as their kind of payment writes them: paise only on bills, fuel, travel,
    insurance and government services; online price points (whole rupees ending in 9) in the
    price-point categories; whole rupees at shops and counters (and a refund, which gives back its purchase,
    in whole rupees outside those categories); P2P in tens of rupees (hundreds from 1,000)."""
    t = s.transactions
    amount = t.number("amount_paise")
    rupees = amount / 100.0
    p2p = t.equals("transaction_type", "P2P_TRANSFER")
    merchant = ~t.null("merchant_category") & ~t.equals("transaction_type", "CASH_WITHDRAWAL") & ~p2p
    paise_ok = merchant & t.isin("merchant_category", PAISE_CATEGORIES)
    _, _, online = _modes(s)
    refund = t.equals("transaction_type", "REFUND")
    priced = merchant & ~paise_ok & ~refund & online & t.isin("merchant_category", PRICE_POINT_CATEGORIES)
    whole = merchant & ~paise_ok & ~priced
    bad = priced & ((amount % 100 != 0) | (rupees % 10 != 9))
    bad |= whole & (amount % 100 != 0)
    bad |= p2p & (amount % np.where(amount < 1_000_00, 10_00, 100_00) != 0)
    return bad


def refunds_go_back(s: Stream) -> Mask:
    """A refund is sent back by the merchant, so never by scanning a QR code."""
    t = s.transactions
    return t.equals("transaction_type", "REFUND") & t.equals("entry_mode", "QR_SCAN")


def refunds_follow_a_purchase(s: Stream) -> Mask:
    """Every refund names its purchase (original_transaction_id): an earlier approved purchase in the data of
    the same customer at the same merchant with the same instrument, of at least the refunded amount, and
    named by no earlier refund; no other row names one."""
    t = s.transactions
    refund = t.equals("transaction_type", "REFUND")
    named = ~t.null("original_transaction_id")
    bad = refund != named
    rows = np.flatnonzero(refund & named)
    if not len(rows):
        return bad
    # the row of each named id (-1: not in the data), through the two columns' vocabularies
    row_of_code = np.full(len(t.vocab["transaction_id"]), -1, dtype=np.int64)
    row_of_code[t.codes["transaction_id"]] = np.arange(t.n)
    code_of_id = {value: code for code, value in enumerate(t.vocab["transaction_id"])}
    named_row = np.array([row_of_code[code_of_id[v]] if v in code_of_id else -1
                          for v in t.vocab["original_transaction_id"]], dtype=np.int64)
    original = named_row[t.codes["original_transaction_id"][rows]]
    at = np.maximum(original, 0)
    purchase = t.equals("transaction_type", "PURCHASE") & t.equals("status", "APPROVED")
    times, amounts = t.number("event_time"), t.number("amount_paise")
    same = np.ones(len(rows), dtype=bool)
    for name in ("customer_id", "merchant_id", "instrument_id"):
        same &= t.codes[name][at] == t.codes[name][rows]
    fits = (original >= 0) & purchase[at] & same & (times[at] < times[rows]) & (amounts[at] >= amounts[rows])
    # a purchase is given back once: every refund naming it after the first (by event time) is a violation
    order = np.lexsort((times[rows], original))
    again = np.zeros(len(rows), dtype=bool)
    again[order[1:]] = (original[order][1:] == original[order][:-1]) & (original[order][1:] >= 0)
    bad[rows] = ~fits | again
    return bad


def one_first_label(s: Stream) -> Mask:
    """Every transaction has exactly one first label (revision 0), no earlier than the transaction."""
    return (s.first_labels != 1) | ~(s.first_delay_us >= 0)


def labels_are_whole(s: Stream) -> Mask:
    """A fraud's truth has its fraud type, a legitimate one none."""
    typed = np.array([t is not None for t in s.fraud_type], dtype=bool)
    return typed != s.is_fraud


def revisions_are_chargebacks(s: Stream) -> Mask:
    """A revision (revision > 0) arrives at least 30 days after its transaction (per Label record)."""
    labels = s.labels
    later = labels.number("revision") > 0
    early = (labels.number("label_time") - labels.number("event_time")) < CHARGEBACK_MIN_DAYS * DAY_US
    return later & early


RULES: tuple[Rule, ...] = tuple(Rule(f.__name__, " ".join((f.__doc__ or f.__name__).split()), f) for f in (
    status_and_reason, decline_reason_fits_the_payment, card_fields_on_cards_only, card_number_fits_its_network,
    vpas_on_upi_only, merchant_fields_agree, geography_agrees, channel_and_entry_agree, where_it_happened,
    amounts_within_limits, amounts_written_as_paid, refunds_go_back, refunds_follow_a_purchase, one_first_label,
    labels_are_whole, revisions_are_chargebacks))
