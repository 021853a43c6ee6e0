"""The fields of a transaction that follow from its choices, for legitimate and injected rows alike.

`assemble` takes what each row chose (`Choices`: customer, time, city, type, merchant, payee, mode, online,
amount, device, declined, entry mode where fixed) and a few uniforms (`Uniforms`), and derives the rest:
channel and entry mode where not fixed, the amount written as its kind of payment writes it, the location,
the terminal and the decline reason, so that every row is consistent by construction, whoever planned it
(`producers.legitimate_fields` for legitimate traffic, `producers.scenarios.rows` for fraud and anomalies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.producers import events as ev
from synfinance.producers import prices
from synfinance.producers.customers import Customers
from synfinance.producers.events import EventColumns
from synfinance.producers.merchants import Merchants
from synfinance.producers.world.declines import DECLINE_CONTEXTS, DECLINE_REASONS, decline_contexts
from synfinance.producers.world.geography import CITY_LAT, CITY_LON

# the reasons of context k on [k, k + 1): one lookup draws every declined row's reason from its own context
_CONTEXT_REASONS = [np.array([i for i, r in enumerate(DECLINE_REASONS) if context in r.contexts])
                    for context in DECLINE_CONTEXTS]
_REASON_CODE = np.concatenate(_CONTEXT_REASONS)
_REASON_CUM = np.concatenate([np.cumsum([DECLINE_REASONS[i].weight for i in rows]) / sum(
    DECLINE_REASONS[i].weight for i in rows) + k for k, rows in enumerate(_CONTEXT_REASONS)])


@dataclass(frozen=True)
class Choices:
    """What each row chose (one array per field, one entry per row); -1 where a row has none (merchant,
    payee, device) or leaves it to `assemble` (entry mode). Amounts in paise, before `prices.shape`."""

    customer: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    city: npt.NDArray[np.int64]
    ttype: npt.NDArray[np.int64]
    merchant: npt.NDArray[np.int64]
    payee: npt.NDArray[np.int64]
    mode: npt.NDArray[np.int64]
    online: npt.NDArray[np.bool_]
    amount: npt.NDArray[np.int64]
    device: npt.NDArray[np.int64]
    declined: npt.NDArray[np.bool_]
    entry: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Uniforms:
    """The uniforms `assemble` derives with: the channel and entry mode, the terminal, and a declined row's
    reason."""

    entry: npt.NDArray[np.float64]
    terminal: npt.NDArray[np.float64]
    reason: npt.NDArray[np.float64]


def assemble(c: Customers, m: Merchants, chosen: Choices, u: Uniforms) -> EventColumns:
    """The fields that follow from the choices (channel, entry mode where -1, instrument, location,
    terminal, decline reason), so that legitimate and injected rows are consistent by construction."""
    customer, times, city, ttype, merchant = chosen.customer, chosen.time_us, chosen.city, chosen.ttype, chosen.merchant
    mode, online, amount, declined, entry = chosen.mode, chosen.online, chosen.amount, chosen.declined, chosen.entry
    u_entry, u_terminal, u_reason = u.entry, u.terminal, u.reason
    n = len(customer)
    is_card = (mode == ev.DEBIT_CARD) | (mode == ev.CREDIT_CARD)
    upi = mode == ev.UPI
    p2p = ttype == ev.P2P_TRANSFER
    cash = ttype == ev.CASH_WITHDRAWAL
    card_present = ~online & is_card
    channel = np.where(online, np.where(u_entry < 0.55, ev.IN_APP, ev.ECOMMERCE), np.where(is_card, ev.POS, ev.QR))
    channel[p2p] = ev.IN_APP
    derived = np.full(n, ev.CNP, dtype=np.int64)
    derived[card_present] = np.select([u_entry[card_present] < 0.55, u_entry[card_present] < 0.90],
                                      [ev.CHIP, ev.CONTACTLESS], ev.SWIPE)
    derived[cash] = ev.CHIP
    derived[upi & ~online & ~p2p] = ev.QR_SCAN
    remote_upi = upi & (online | p2p)
    derived[remote_upi] = np.where(u_entry[remote_upi] < 0.93, ev.UPI_INTENT, ev.UPI_COLLECT)
    derived[(mode == ev.WALLET) & ~online] = ev.QR_SCAN
    entry = np.where(entry >= 0, entry, derived)
    # a refund at a QR code is sent back by the merchant's app, not scanned
    sent_back = (ttype == ev.REFUND) & (entry == ev.QR_SCAN)
    channel[sent_back] = ev.IN_APP
    entry[sent_back] = np.where(upi[sent_back], ev.UPI_INTENT, ev.CNP)
    amount = prices.shape(amount, np.where(merchant >= 0, m.category[np.maximum(merchant, 0)], -1), online, ttype)
    amount = np.where(upi, np.minimum(amount, prices.UPI_P2M_MAX_PAISE), amount)  # UPI's per-payment limit

    # location: the merchant's for shops, home or the city centre otherwise
    at_home = city == c.home_city[customer]
    lat = np.where(at_home, c.home_lat[customer], CITY_LAT[city])
    lon = np.where(at_home, c.home_lon[customer], CITY_LON[city])
    shop = (merchant >= 0) & ~online
    shops = np.flatnonzero(shop)
    lat[shops], lon[shops] = m.latitude[merchant[shops]], m.longitude[merchant[shops]]

    # card-present payments name a terminal: one of the merchant's, or an ATM of the city for cash
    shop_merchant = np.maximum(merchant, 0)
    slot = np.minimum((u_terminal * m.terminal_count[shop_merchant]).astype(np.int64),
                      np.maximum(m.terminal_count[shop_merchant] - 1, 0))
    terminal = np.where(card_present & ~cash & (merchant >= 0) & (m.terminal_count[shop_merchant] > 0),
                        m.terminal_start[shop_merchant] + slot, -1)
    terminal[cash] = m.atm_terminal(city[cash])

    # a declined row's reason, from the reasons of its context (declines.decline_contexts)
    reason = np.full(n, -1, dtype=np.int64)
    declines = np.flatnonzero(declined)
    context = decline_contexts(is_card[declines], online[declines], cash[declines], upi[declines],
                               entry[declines] == ev.UPI_COLLECT)
    reason[declines] = _REASON_CODE[np.minimum(np.searchsorted(_REASON_CUM, u_reason[declines] + context,
                                                               side="right"), len(_REASON_CODE) - 1)]
    minus_one = np.full(n, -1, dtype=np.int64)
    return EventColumns(
        customer=customer, seq=chosen.seq, time_us=times, merchant=merchant, payee=chosen.payee, amount_paise=amount,
        payment_mode=mode, instrument=customer * len(ev.PAYMENT_MODES) + mode, channel=channel, entry_mode=entry,
        transaction_type=ttype, city=city, latitude=lat, longitude=lon, device=chosen.device, terminal=terminal,
        status=declined.astype(np.int64), decline_reason=reason,
        original_time_us=minus_one.copy(), original_seq=minus_one.copy(),
        fraud_type=minus_one, scenario=minus_one.copy(), anomaly_type=minus_one.copy(),
        severity=np.zeros(n), label_delay_us=np.zeros(n, dtype=np.int64), revision_delay_us=minus_one.copy(),
    )
