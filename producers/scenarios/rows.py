"""Collects the transactions scenarios plan, then completes them exactly like legitimate rows.

Planners state only the choices a fraud makes (who, when, where, which instrument, merchant or payee,
amount, device, outcome); `RowBuilder.build` hands them to `fields.assemble`, which derives every
dependent field (channel, entry mode, location, terminal, decline reason), so injected rows obey the
same consistency rules as legitimate ones. Device indices beyond the customers' own ones address the
fraudsters' phones; payee indices address the customers' payees, then the customers' own VPAs, then the
merchants' VPAs (`FraudActors`).
"""

from __future__ import annotations

import numpy as np

from synfinance.producers import events as ev
from synfinance.producers.customers import Customers
from synfinance.producers.events import EventColumns
from synfinance.producers.fields import Choices, Uniforms, assemble
from synfinance.producers.merchants import Merchants

_COLUMNS = ("customer", "time_us", "ttype", "mode", "amount", "city", "online", "merchant", "payee", "device",
            "declined", "entry", "fraud_type", "scenario", "label_delay_us", "revision_delay_us", "anomaly_type",
            "severity", "u_entry", "u_terminal", "u_reason", "original_time_us")
_CARD_PRESENT = (ev.CHIP, ev.CONTACTLESS, ev.SWIPE)


class RowBuilder:
    """Column lists of planned rows (a few thousand per block: plain Python lists are fine)."""

    def __init__(self, customers: Customers, merchants: Merchants) -> None:
        self.customers, self.merchants = customers, merchants
        self.fraud_device_base = len(customers.device_ids)
        self.customer_payee_base = len(customers.payee_vpas)
        self.planned: list[tuple[object, ...]] = []  # one tuple per row, in _COLUMNS order

    def __len__(self) -> int:
        return len(self.planned)

    @property
    def cols(self) -> dict[str, list[object]]:
        """The planned rows column by column (lists, in the order rows were added)."""
        if not self.planned:
            return {}
        return {name: list(values) for name, values in zip(_COLUMNS, zip(*self.planned, strict=True), strict=True)}

    def add(self, *, customer: int, time_us: int, ttype: int, mode: int, amount_inr: float, city: int,
            online: bool = False, merchant: int = -1, payee: int = -1, device: int = -1, declined: bool = False,
            entry: int = -1, fraud_type: int = -1, scenario: int = -1, label_delay_us: int = 0,
            revision_delay_us: int = -1, anomaly_type: int = -1, severity: float = 0.0,
            u: tuple[float, float, float] = (0.5, 0.5, 0.5), original_time_us: int = -1) -> None:
        """One planned transaction. `device`/`payee` index the vocabularies (see module docstring); a refund
        names the time of the purchase it gives back (`original_time_us`, producers.refunds)."""
        if merchant >= 0 and bool(self.merchants.is_online[merchant]) != online:
            # the pool fell back to a merchant of the other kind: the merchant decides the channel
            online = bool(self.merchants.is_online[merchant])
            if online and entry in _CARD_PRESENT:
                entry = ev.CNP
            if not online and entry == ev.CNP:
                entry = -1
        if online and entry == ev.QR_SCAN:  # an online merchant has no QR code to scan
            entry = -1
        # a tuple per row, transposed once in build(): cheaper than a dict and 20 list appends per row
        self.planned.append((customer, time_us, ttype, mode, max(round(amount_inr * 100), 100), city, online, merchant,
                             payee, device, declined, entry, fraud_type, scenario, label_delay_us,
                             revision_delay_us, anomaly_type,
                             severity, u[0], u[1], u[2], original_time_us))

    def own_device(self, customer: int, time_us: int) -> int:
        """The phone the customer pays from at that time (`Customers.phone_at`)."""
        return int(self.customers.phone_at(np.array([customer]), np.array([time_us]))[0])

    def fraud_device(self, index: int) -> int:
        return self.fraud_device_base + index

    def customer_payee(self, customer: int) -> int:
        """The payee index of a customer's own VPA (a mule is paid there)."""
        return self.customer_payee_base + customer

    def shop_payee(self, merchant: int) -> int:
        """The payee index of a merchant's VPA, paid in place of another shop (a swapped QR code)."""
        return self.customer_payee_base + len(self.customers) + merchant

    def build(self) -> EventColumns:
        """The planned rows as event columns (seq is assigned when they merge into the stream)."""
        if not len(self):
            return EventColumns.empty()
        col = {k: np.asarray(v) for k, v in self.cols.items()}
        i64 = {k: col[k].astype(np.int64) for k in ("customer", "time_us", "ttype", "mode", "amount", "city",
                                                    "merchant", "payee", "device", "entry")}
        chosen = Choices(customer=i64["customer"], seq=np.zeros(len(self), dtype=np.int64), time_us=i64["time_us"],
                         city=i64["city"], ttype=i64["ttype"], merchant=i64["merchant"], payee=i64["payee"],
                         mode=i64["mode"], online=col["online"].astype(bool), amount=i64["amount"],
                         device=i64["device"], declined=col["declined"].astype(bool), entry=i64["entry"])
        rows = assemble(self.customers, self.merchants, chosen, Uniforms(
            entry=col["u_entry"].astype(float), terminal=col["u_terminal"].astype(float),
            reason=col["u_reason"].astype(float)))
        rows.fraud_type = col["fraud_type"].astype(np.int64)
        rows.scenario = col["scenario"].astype(np.int64)
        rows.label_delay_us = col["label_delay_us"].astype(np.int64)
        rows.revision_delay_us = col["revision_delay_us"].astype(np.int64)
        rows.anomaly_type = col["anomaly_type"].astype(np.int64)
        rows.severity = col["severity"].astype(np.float64)
        rows.original_time_us = col["original_time_us"].astype(np.int64)
        return rows


def card_mode(customers: Customers, customer: int, prefer_credit: bool = False) -> int:
    """A card the customer holds (credit first if asked), or -1."""
    holds = customers.holds[customer]
    order = (ev.CREDIT_CARD, ev.DEBIT_CARD) if prefer_credit else (ev.DEBIT_CARD, ev.CREDIT_CARD)
    for mode in order:
        if holds[mode]:
            return mode
    return -1
