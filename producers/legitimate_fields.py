"""Every field of a legitimate transaction, from its customer, time, city and one row of uniforms.

`derive_fields` chooses what a legitimate payment is (type, merchant, mode, amount, device, declined, payee)
and `fields.assemble` derives the rest; `U_*` name the columns of the per-transaction uniform matrix that
`producers.arrivals` draws (one row per transaction), each the uniform one choice is made with.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synfinance.producers import events as ev
from synfinance.producers import prices, refunds
from synfinance.producers.customers import P2P_PROBABILITY, Customers
from synfinance.producers.events import EventColumns
from synfinance.producers.fields import Choices, Uniforms, assemble
from synfinance.producers.merchants import MerchantPools, Merchants
from synfinance.producers.world.categories import CATEGORIES
from synfinance.producers.world.geography import CITY_COST

# Columns of the per-transaction uniform matrix (append-only: reordering changes every stream).
U_HOUR, U_OFFSET, U_TYPE, U_MODE, U_CATEGORY, U_LOYAL, U_PICK, U_CHANNEL, U_AMOUNT1, U_AMOUNT2, \
    U_DEVICE, U_DECLINE, U_REASON, U_ENTRY, U_TERMINAL, U_ANOMALY, U_ANOMALY_KIND, U_ANOMALY_SIZE, U_LABEL = range(19)
N_UNIFORMS = 19
CASH_WITHDRAWAL_SHARE = 0.015   # of a debit-card holder's transactions (ATM)
REFUND_SHARE = 0.005
BASE_DECLINE = 0.012
UPI_BUSINESS_DECLINE = 0.056  # fitted: legitimate UPI payments decline at payment_rails.UPI_DECLINE_RATE (validate)
NEW_PAYEE_SHARE = 0.12     # legitimate P2P to someone never paid before (a shop owner, a new contact)
OTHER_DEVICE_SHARE = 0.02   # device payments from a phone or browser the bank has not seen for the customer
_CATEGORY_ONLINE = np.array([c.online_share for c in CATEGORIES])
_CATEGORY_LOYALTY = np.array([c.loyalty for c in CATEGORIES])


def derive_fields(c: Customers, m: Merchants, pools: MerchantPools, customer: npt.NDArray[np.int64],
                  seq: npt.NDArray[np.int64], times: npt.NDArray[np.int64], city: npt.NDArray[np.int64],
                  u: npt.NDArray[np.float64]) -> EventColumns:
    """Every field of a legitimate transaction from its customer, time, city and uniforms."""
    n = len(customer)
    holds_upi, holds_debit = c.holds[customer, ev.UPI], c.holds[customer, ev.DEBIT_CARD]  # the two columns used
    at_home = city == c.home_city[customer]

    # transaction type: P2P for UPI holders, ATM cash for debit-card holders, some refunds
    ttype = np.full(n, ev.PURCHASE, dtype=np.int64)
    p2p = holds_upi & (u[:, U_TYPE] < P2P_PROBABILITY)
    cash = ~p2p & holds_debit & (u[:, U_TYPE] > 1.0 - CASH_WITHDRAWAL_SHARE)
    refund = ~p2p & ~cash & (np.abs(u[:, U_TYPE] - 0.5) < REFUND_SHARE / 2)
    ttype[p2p], ttype[cash], ttype[refund] = ev.P2P_TRANSFER, ev.CASH_WITHDRAWAL, ev.REFUND
    merchant_txn = ~p2p & ~cash

    # merchant: the favourite of the category (at home, by loyalty) or one from the local/online pool
    category = c.pick_category(customer, u[:, U_CATEGORY])
    loyal = at_home & (u[:, U_LOYAL] < _CATEGORY_LOYALTY[category])
    wants_online = u[:, U_CHANNEL] < _CATEGORY_ONLINE[category]
    merchant = np.full(n, -1, dtype=np.int64)  # each pick is per row: made only for the rows that keep it
    favourite = np.flatnonzero(merchant_txn & loyal)
    merchant[favourite] = c.favourite[customer[favourite], category[favourite]]
    picked = np.flatnonzero(merchant_txn & ~loyal)
    merchant[picked] = pools.pick(category[picked], city[picked], wants_online[picked], u[picked, U_PICK])
    online = merchant_txn & m.is_online[np.maximum(merchant, 0)]
    category = np.where(merchant_txn, m.category[np.maximum(merchant, 0)], -1)

    # payment mode from the customer's holdings: online may use net banking and BNPL, shops may not
    mode = c.pick_mode(customer, online, u[:, U_MODE])
    mode[p2p] = ev.UPI
    mode[cash] = ev.DEBIT_CARD
    upi = mode == ev.UPI

    # amount: the price model (lognormal per category, scaled by the customer and the city's cost of
    # living); `assemble` writes it as its kind of payment is written (producers.prices)
    rupees = prices.rupees(np.where(merchant_txn, category, -1), prices.normal(u[:, U_AMOUNT1], u[:, U_AMOUNT2]),
                           c.amount_scale[customer], CITY_COST[city])
    rupees[refund] *= 0.6
    rupees[cash] *= 4  # cash for several purchases at once
    amount = np.maximum(np.round(rupees * 100), 100).astype(np.int64)

    # the customer's own phone (mostly the first; the new one once they switch) for app, online and UPI
    # payments, and now and then a device the bank has never seen (borrowed, a new browser). Rows that use a
    # device have no terminal, so U_TERMINAL is free to choose that.
    uses_device = online | upi | (mode == ev.WALLET)
    count = c.device_count[customer]
    phone = c.phone_at(customer, times, np.minimum((u[:, U_DEVICE] ** 3 * count).astype(np.int64), count - 1))
    phone = np.where(u[:, U_TERMINAL] < OTHER_DEVICE_SHARE, c.device_start[customer] + count + 1, phone)
    device = np.where(uses_device, phone, -1)

    # declines: ~1% base, more for large amounts, online, and customers less at home with apps; UPI's
    # business declines (insufficient funds, a wrong PIN, a bank's limits) on top
    rupee_amount = amount / 100.0
    p_decline = (BASE_DECLINE + 0.02 * (rupee_amount > 20_000) + 0.03 * (rupee_amount > 50_000)
                 + 0.008 * online + 0.015 * (1.0 - c.digital_familiarity[customer]) + UPI_BUSINESS_DECLINE * upi)
    declined = u[:, U_DECLINE] < p_decline
    # a refund gives back an earlier approved purchase of the customer (producers/refunds.py)
    city, original = refunds.give_back(customer=customer, times=times, ttype=ttype, declined=declined,
                                       merchant=merchant, online=online, mode=mode, amount=amount, city=city,
                                       device=device, phone=phone)
    payee = _payees(c, customer, p2p, u)
    chosen = Choices(customer=customer, seq=seq, time_us=times, city=city, ttype=ttype, merchant=merchant, payee=payee,
                     mode=mode, online=online, amount=amount, device=device, declined=declined,
                     entry=np.full(n, -1, dtype=np.int64))
    rows = assemble(c, m, chosen, Uniforms(entry=u[:, U_ENTRY], terminal=u[:, U_TERMINAL], reason=u[:, U_REASON]))
    refunded = np.flatnonzero(original >= 0)
    rows.original_time_us[refunded] = times[original[refunded]]
    return rows


def _payees(c: Customers, customer: npt.NDArray[np.int64], p2p: npt.NDArray[np.bool_],
            u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Each P2P row's payee (-1 for other rows)."""
    # P2P: mostly the customer's own family and friends; NEW_PAYEE_SHARE go to someone they never paid
    # before (one of somebody else's payees, or another customer), as fraud transfers do. U_LOYAL and
    # U_CATEGORY are not used by P2P rows otherwise.
    payee = np.where(p2p, c.payee_start[customer] + np.minimum(
        (u[:, U_PICK] * c.payee_count[customer]).astype(np.int64), c.payee_count[customer] - 1), -1)
    new_payee = np.flatnonzero(p2p & (u[:, U_LOYAL] < NEW_PAYEE_SHARE))
    if len(new_payee):
        someone = u[new_payee, U_CATEGORY]
        holders = c.upi_holders
        payee[new_payee] = np.where(
            u[new_payee, U_CHANNEL] < 0.5, np.minimum((someone * len(c.payee_vpas)).astype(np.int64),
                                                      len(c.payee_vpas) - 1),
            len(c.payee_vpas) + holders[np.minimum((someone * len(holders)).astype(np.int64), len(holders) - 1)])
    return payee


def is_purchase(holds: npt.NDArray[np.bool_], u_type: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Whether derive_fields will make each row a purchase (same rules, same uniform)."""
    p2p = holds[:, ev.UPI] & (u_type < P2P_PROBABILITY)
    cash = ~p2p & holds[:, ev.DEBIT_CARD] & (u_type > 1.0 - CASH_WITHDRAWAL_SHARE)
    refund = ~p2p & ~cash & (np.abs(u_type - 0.5) < REFUND_SHARE / 2)
    return ~p2p & ~cash & ~refund
