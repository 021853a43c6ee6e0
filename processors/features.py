"""Velocity features of a transaction from the customer's history strictly before it (SPEC §7).

The one implementation of the features: the stream processor keeps a `CustomerHistory` per customer
in its state, and `reference_features` runs the same objects offline over a generated dataset, so the
stream and the oracle agree value for value. Windows are exact and slide on event time: an earlier
event counts in window W of an event at t when its time is in (t - W, t). `is_new_merchant` is about
the counterparty — the payee VPA where there is one (UPI, including P2P), else the merchant — since
paying someone new is the signal whether or not they are a registered merchant.

>>> history = CustomerHistory()
>>> first = Txn(time_us=0, amount_paise=50_000, merchant_id="M1", device_id="D1", city="Pune",
...             latitude=18.52, longitude=73.86, declined=False)
>>> history.features(first, home=(18.52, 73.86), merchant_rate=0.0)["txn_count_1h"]
0
>>> history.update(first)
>>> later = Txn(time_us=600_000_000, amount_paise=9_000, merchant_id="M2", device_id="D1", city="Pune",
...             latitude=18.52, longitude=73.86, declined=True)
>>> f = history.features(later, home=(18.52, 73.86), merchant_rate=0.0)
>>> f["txn_count_1h"], f["txn_count_5m"], f["seconds_since_prev"], f["is_new_merchant"], f["is_new_device"]
(1, 0, 600.0, True, False)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from synfinance.common.geo import haversine_km_one
from synfinance.common.units import DAY_US, HOUR_US, IST_OFFSET_US, MINUTE_US

SMALL_PAISE = 100_00            # "sub-INR 100" transactions (card testing probes)
NIGHT_HOURS = range(0, 5)       # 00:00-04:59 IST
# merchant risk: (frauds + prior * weight) / (labels + weight), so a merchant with few labels is near the prior
RISK_PRIOR, RISK_WEIGHT = 0.02, 20.0
RISK_BUCKET_US = DAY_US  # merchant risk moves once per event-time day (IST), see `risk_as_of`

FEATURE_NAMES = (
    "txn_count_5m", "txn_count_1h", "txn_count_24h", "amount_sum_1h_paise", "amount_sum_24h_paise",
    "amount_zscore", "distinct_merchants_1h", "distinct_devices_24h", "distinct_cities_24h", "seconds_since_prev",
    "km_from_prev", "speed_kmh_from_prev", "km_from_home", "is_new_device", "is_new_merchant", "declines_1h",
    "small_txns_1h", "hour_of_day", "is_night", "is_weekend", "merchant_fraud_rate",
)


class Txn(NamedTuple):
    """The fields of a Transaction record the features read (a tuple: cheap to make, keep and store)."""

    time_us: int
    amount_paise: int
    merchant_id: str | None
    device_id: str | None
    city: str
    latitude: float
    longitude: float
    declined: bool
    payee_vpa: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Txn:
        return cls(record["event_time"], record["amount_paise"], record["merchant_id"], record["device_id"],
                   record["city"], record["latitude"], record["longitude"], record["status"] == "DECLINED",
                   record["payee_vpa"])

    @property
    def counterparty(self) -> str | None:
        """Who is paid: the payee VPA where there is one (UPI), else the merchant."""
        return self.payee_vpa if self.payee_vpa is not None else self.merchant_id


@dataclass
class CustomerHistory:
    """What the features need to remember about one customer: the last 24 h of transactions, running
    amount moments (Welford), and every merchant and device seen."""

    recent: deque[Txn] = field(default_factory=deque)
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    merchants: set[str] = field(default_factory=set)  # counterparties: merchants and payee VPAs
    devices: set[str] = field(default_factory=set)
    last: Txn | None = None

    def features(self, txn: Txn, home: tuple[float, float], merchant_rate: float) -> dict[str, Any]:
        """The features of `txn` from history before it (call before `update`)."""
        t = txn.time_us
        recent = self.recent
        while recent and recent[0].time_us <= t - DAY_US:
            recent.popleft()
        # one pass over the last 24 h (a handful of transactions per customer)
        hour_ago, five_min_ago = t - HOUR_US, t - 5 * MINUTE_US
        count_5m = count_1h = sum_1h = sum_24h = declines = small = 0
        merchants_1h: set[str] = set()
        devices: set[str] = set()
        cities: set[str] = set()
        for r in recent:
            sum_24h += r.amount_paise
            cities.add(r.city)
            if r.device_id is not None:
                devices.add(r.device_id)
            if r.time_us > hour_ago:
                count_1h += 1
                sum_1h += r.amount_paise
                if r.time_us > five_min_ago:
                    count_5m += 1
                if r.merchant_id is not None:
                    merchants_1h.add(r.merchant_id)
                if r.declined:
                    declines += 1
                if r.amount_paise < SMALL_PAISE:
                    small += 1
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        last = self.last
        if last is not None:
            gap_s: float | None = (t - last.time_us) / 1e6
            km_prev: float | None = haversine_km_one(last.latitude, last.longitude, txn.latitude, txn.longitude)
            speed = km_prev / (gap_s / 3600.0) if gap_s else None
        else:
            gap_s = km_prev = speed = None
        local = t + IST_OFFSET_US
        hour = int(local // HOUR_US % 24)
        weekday = int((local // DAY_US + 3) % 7)  # 1970-01-01 was a Thursday; Monday = 0
        counterparty = txn.counterparty
        return {
            "txn_count_5m": count_5m,
            "txn_count_1h": count_1h,
            "txn_count_24h": len(recent),
            "amount_sum_1h_paise": sum_1h,
            "amount_sum_24h_paise": sum_24h,
            "amount_zscore": (txn.amount_paise - self.mean) / std if std > 0 else 0.0,
            "distinct_merchants_1h": len(merchants_1h),
            "distinct_devices_24h": len(devices),
            "distinct_cities_24h": len(cities),
            "seconds_since_prev": gap_s,
            "km_from_prev": km_prev,
            "speed_kmh_from_prev": speed,
            "km_from_home": haversine_km_one(home[0], home[1], txn.latitude, txn.longitude),
            "is_new_device": txn.device_id is not None and txn.device_id not in self.devices,
            "is_new_merchant": counterparty is not None and counterparty not in self.merchants,
            "declines_1h": declines,
            "small_txns_1h": small,
            "hour_of_day": hour,
            "is_night": hour in NIGHT_HOURS,
            "is_weekend": weekday >= 5,
            "merchant_fraud_rate": merchant_rate,
        }

    def update(self, txn: Txn) -> None:
        """Remember `txn` (call after `features`)."""
        self.recent.append(txn)
        self.count += 1
        delta = txn.amount_paise - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (txn.amount_paise - self.mean)
        if txn.counterparty is not None:
            self.merchants.add(txn.counterparty)
        if txn.device_id is not None:
            self.devices.add(txn.device_id)
        self.last = txn


@dataclass
class MerchantRisk:
    """Fraud rate per merchant from the labels seen so far, smoothed towards RISK_PRIOR. A transaction counts
    once, under its latest label: a label with a higher revision moves it between legitimate and fraud (a
    chargeback), one at or below the revision seen is ignored (re-sent, or older)."""

    labels: dict[str, int] = field(default_factory=dict)
    frauds: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, tuple[int, bool]] = field(default_factory=dict)  # txn id -> (revision, is_fraud)

    def observe(self, merchant_id: str | None, is_fraud: bool, txn_id: str | None = None, revision: int = 0) -> None:
        """Count a label of a transaction of the merchant (`txn_id` None: one known to be its only label)."""
        if txn_id is not None:
            seen = self.verdicts.get(txn_id)
            if seen is not None and revision <= seen[0]:
                return
            self.verdicts[txn_id] = (revision, is_fraud)
            if seen is not None:
                if merchant_id is not None and is_fraud != seen[1]:
                    self.frauds[merchant_id] = self.frauds.get(merchant_id, 0) + (1 if is_fraud else -1)
                return
        if merchant_id is None:
            return
        self.labels[merchant_id] = self.labels.get(merchant_id, 0) + 1
        if is_fraud:
            self.frauds[merchant_id] = self.frauds.get(merchant_id, 0) + 1

    def rate(self, merchant_id: str | None) -> float:
        if merchant_id is None:
            return RISK_PRIOR
        return smoothed_rate(self.frauds.get(merchant_id, 0), self.labels.get(merchant_id, 0))


def smoothed_rate(frauds: int, labels: int) -> float:
    """A merchant's fraud rate from its counts, smoothed towards RISK_PRIOR (the one expression: the stream
    and the reference compute it alike, bit for bit)."""
    return (frauds + RISK_PRIOR * RISK_WEIGHT) / (labels + RISK_WEIGHT)


def risk_as_of(t: int) -> int:
    """The label time a transaction at event time `t` takes merchant risk as of: the last microsecond of
    the (IST) day before t's. Labels with label_time <= this count, so risk is one value for a whole day,
    it is final once every label partition has passed the day's start (not t itself: live transactions
    wait for labels much less), and it is the same whichever worker scores t, at any rate or worker count.

    >>> day = 86_400_000_000
    >>> start = 20_000 * day - 19_800_000_000  # 00:00 IST
    >>> risk_as_of(start) == risk_as_of(start + day - 1) == start - 1, risk_as_of(start + day) == start + day - 1
    (True, True)
    """
    local = t + IST_OFFSET_US
    return local - local % RISK_BUCKET_US - IST_OFFSET_US - 1


def reference_features(transactions: list[dict[str, Any]], labels: list[dict[str, Any]],
                       homes: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """Features of every transaction (records in event-time order), offline. A label updates merchant
    risk once its label_time has passed: labels with label_time <= `risk_as_of` a transaction's event time
    count, in label-time order (then by transaction id and revision), each transaction under its latest
    revision."""
    merchant_of = {t["transaction_id"]: t["merchant_id"] for t in transactions}
    pending = sorted(labels, key=lambda label: (label["label_time"], label["transaction_id"],
                                                label.get("revision", 0)))
    histories: dict[str, CustomerHistory] = {}
    risk = MerchantRisk()
    out, next_label = [], 0
    for record in transactions:
        txn = Txn.from_record(record)
        as_of = risk_as_of(txn.time_us)
        while next_label < len(pending) and pending[next_label]["label_time"] <= as_of:
            label = pending[next_label]
            risk.observe(merchant_of.get(label["transaction_id"]), label["is_fraud"], label["transaction_id"],
                         label.get("revision", 0))
            next_label += 1
        history = histories.setdefault(record["customer_id"], CustomerHistory())
        out.append(history.features(txn, homes[record["customer_id"]], risk.rate(txn.merchant_id)))
        history.update(txn)
    return out
