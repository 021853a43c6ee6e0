"""Features an independent data scientist would build from the dataset's records, for the leak audit.

Three feature sets over `bench.audit_dataset.AuditData`, each a `Features` table that
scikit-learn's HistGradientBoostingClassifier takes as it is (categoricals as integer codes):

- `behaviour`: the transaction's raw fields (amount, IST hour/weekday, every categorical, coordinates),
  its customer's and merchant's records, and per-customer history from the customer's *earlier*
  transactions only (one pass in event-time order);
- `id_formats`: only what every id-like field looks like, at three levels of detail (`_id_facts`): its
  format (squeezed shape, length, digit count, separators, type letter, VPA handle), also its full
  shape and first characters, also the numbers in it;
- `payment_kind`: the kind of payment (mode, type, channel, entry mode), the strata the audit compares
  formats within, and `id_presence` / `payment_kind_only`, the references of what presence alone tells.

>>> shape("T00000676-00000000"), shape("dominos.1@paytm"), shape(None)
('A99999999-99999999', 'AAAAAAA.9@AAAAA', '<null>')
>>> squeezed("T7KQ2MX-00000042-00000001"), squeezed("asha.rao.1f04008dt2s1xe@ybl")
('A9A9A-9-9', 'A.A.9A9A9A9A@A')
>>> digit_runs("10.99.55.74")
[10.0, 99.0, 55.0, 74.0]
"""

from __future__ import annotations

import math
import re
import string
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.audit_dataset import AuditData, epoch_days

HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
IST_OFFSET_US = 19_800_000_000  # UTC+5:30
EARTH_RADIUS_KM = 6371.0088
NULL = "<null>"
MAX_CATEGORIES = 250  # HistGradientBoosting takes category codes below max_bins (255); the rarest share one
CATEGORICAL_FIELDS = ("payment_mode", "channel", "entry_mode", "transaction_type", "merchant_category", "mcc",
                      "state", "region", "city_tier", "status", "decline_reason", "response_code", "card_network",
                      "card_type", "issuer_bank", "currency", "city")
CUSTOMER_CATEGORIES = ("segment", "occupation", "gender", "credit_score_band")
MERCHANT_CATEGORIES = ("risk_tier", "acquirer_bank", "subcategory")
ID_FIELDS = ("transaction_id", "customer_id", "merchant_id", "payee_vpa", "payer_vpa", "device_id",
             "instrument_id", "terminal_id", "ip_address", "card_bin", "masked_pan")
MAX_RUNS = 4  # an IP address has four digit runs, every other id fewer
_SHAPE = str.maketrans(string.ascii_letters + string.digits, "A" * 52 + "9" * 10)
_DIGITS = re.compile(r"\d+")
_RUNS = re.compile(r"(.)\1+")


def shape(value: Any) -> str:
    """Letters -> A, digits -> 9, anything else kept; NULL for a missing value."""
    return NULL if value is None else str(value).translate(_SHAPE)


def digit_runs(value: str) -> list[float]:
    return [float(run) for run in _DIGITS.findall(value)]


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def codes(values: np.ndarray | list[Any]) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """Each value's index in the list of distinct values (in order of first appearance)."""
    index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), list(index)


def recode(value_codes: npt.NDArray[np.int64], derived: list[Any]) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """`codes` of a value derived from each distinct value (`derived[k]` from value k), without a pass
    over the rows in Python."""
    derived_codes, distinct = codes(derived)
    return derived_codes[value_codes], distinct


@dataclass
class Features:
    """Named columns for a tree model; a categorical column holds codes learnt on the training rows."""

    train: slice
    names: list[str] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    categorical: list[bool] = field(default_factory=list)

    def number(self, name: str, values: np.ndarray | list[float]) -> None:
        self.names.append(name)
        self.columns.append(np.asarray(values, dtype=np.float64))
        self.categorical.append(False)

    def category(self, name: str, values: np.ndarray | list[Any]) -> None:
        self.category_codes(name, *codes(values))

    def category_codes(self, name: str, value_codes: npt.NDArray[np.int64], distinct: list[Any]) -> None:
        """Codes by training-row frequency (null is a category of its own); the rarest share one code,
        and a value never seen in training is missing (NaN)."""
        counts = np.bincount(value_codes[self.train], minlength=len(distinct))
        ranked = np.argsort(-counts, kind="stable")
        code_of = np.full(len(distinct), np.nan)
        seen = ranked[counts[ranked] > 0]
        code_of[seen] = np.minimum(np.arange(len(seen)), MAX_CATEGORIES)
        self.names.append(name)
        self.columns.append(code_of[value_codes])
        self.categorical.append(True)

    def matrix(self) -> npt.NDArray[np.float64]:
        return np.column_stack(self.columns)


def _history(data: AuditData) -> dict[str, np.ndarray]:
    """Per-customer history of each transaction, from the customer's earlier transactions only."""
    c = data.columns
    customer, device, payee = c["customer_id"].tolist(), c["device_id"].tolist(), c["payee_vpa"].tolist()
    merchant, city, instrument = c["merchant_id"].tolist(), c["city"].tolist(), c["instrument_id"].tolist()
    ip, declined = c["ip_address"].tolist(), (c["status"] == "DECLINED").tolist()
    amount, times = c["amount_paise"].tolist(), data.time_us.tolist()
    previous = np.full(data.n, -1, dtype=np.int64)
    names = ("count_1h", "count_24h", "declines_1h", "distinct_devices_24h", "distinct_merchants_24h",
             "history_length", "amount_over_mean", "amount_over_max", "device_seen", "payee_seen",
             "merchant_seen", "city_seen", "instrument_seen", "ip_seen")
    out: dict[str, list[float]] = {name: [] for name in names}
    last: dict[str, int] = {}
    recent: dict[str, deque[int]] = {}
    seen: dict[str, set[Any]] = {}
    totals: dict[str, list[float]] = {}  # customer -> [count, sum, max] of earlier amounts
    nan = math.nan
    for i, who in enumerate(customer):
        t = times[i]
        window = recent.setdefault(who, deque())
        while window and times[window[0]] <= t - DAY_US:
            window.popleft()
        hour_rows = [j for j in window if times[j] > t - HOUR_US]
        known = seen.setdefault(who, set())
        total = totals.setdefault(who, [0, 0.0, 0.0])
        previous[i] = last.get(who, -1)
        out["count_1h"].append(len(hour_rows))
        out["count_24h"].append(len(window))
        out["declines_1h"].append(sum(declined[j] for j in hour_rows))
        out["distinct_devices_24h"].append(len({device[j] for j in window} - {None}))
        out["distinct_merchants_24h"].append(len({merchant[j] for j in window} - {None}))
        out["history_length"].append(total[0])
        out["amount_over_mean"].append(amount[i] / (total[1] / total[0]) if total[0] else nan)
        out["amount_over_max"].append(amount[i] / total[2] if total[0] else nan)
        for name, value in (("device", device[i]), ("payee", payee[i]), ("merchant", merchant[i]),
                            ("city", city[i]), ("instrument", instrument[i]), ("ip", ip[i])):
            out[f"{name}_seen"].append(nan if value is None else float((name, value) in known))
            if value is not None:
                known.add((name, value))
        total[0] += 1
        total[1] += amount[i]
        total[2] = max(total[2], amount[i])
        window.append(i)
        last[who] = i
    result = {name: np.array(values, dtype=np.float64) for name, values in out.items()}
    has_previous = previous >= 0
    before = np.where(has_previous, previous, 0)
    gap_s = np.where(has_previous, (data.time_us - data.time_us[before]) / 1e6, np.nan)
    lat, lon = c["latitude"], c["longitude"]
    km = np.where(has_previous, haversine_km(lat[before], lon[before], lat, lon), np.nan)
    result["seconds_since_prev"] = gap_s
    result["km_from_prev"] = km
    result["speed_kmh_from_prev"] = km / np.maximum(gap_s, 1.0) * 3600.0
    return result


def behaviour(data: AuditData, train: slice) -> Features:
    """Raw fields, customer and merchant records, and per-customer history (audit part a)."""
    c = data.columns
    f = Features(train)
    f.number("amount_inr", c["amount_paise"] / 100)
    f.number("log_amount", np.log1p(c["amount_paise"] / 100))
    local = data.time_us + IST_OFFSET_US
    f.number("hour_ist", local // HOUR_US % 24)
    f.number("weekday_ist", (local // DAY_US + 3) % 7)  # 1970-01-01 was a Thursday; Monday = 0
    f.number("latitude", c["latitude"])
    f.number("longitude", c["longitude"])
    for name in CATEGORICAL_FIELDS:
        f.category(name, c[name])
    people = [data.customers[k] for k in c["customer_id"].tolist()]  # the customer record of each row
    f.number("age", [p["age"] for p in people])
    f.number("monthly_income_inr", [p["monthly_income_paise"] / 100 for p in people])
    for name in CUSTOMER_CATEGORIES:
        f.category(f"customer_{name}", [p[name] for p in people])
    opened = np.array([epoch_days(p["account_open_date"]) for p in people], dtype=np.float64)
    f.number("account_age_days", data.time_us / DAY_US - opened)
    home_lat = np.array([p["home_latitude"] for p in people])
    home_lon = np.array([p["home_longitude"] for p in people])
    f.number("km_from_home", haversine_km(home_lat, home_lon, c["latitude"], c["longitude"]))
    f.number("registered_devices", [len(p["devices"]) for p in people])
    devices = {k: {d["device_id"] for d in p["devices"]} for k, p in data.customers.items()}
    instruments = {k: {i["instrument_id"] for i in p["instruments"]} for k, p in data.customers.items()}
    who = c["customer_id"].tolist()
    f.number("device_registered", [math.nan if d is None else float(d in devices[k])
                                   for k, d in zip(who, c["device_id"].tolist(), strict=True)])
    f.number("instrument_registered", [float(i in instruments[k])
                                       for k, i in zip(who, c["instrument_id"].tolist(), strict=True)])
    shops = [data.merchants.get(m) for m in c["merchant_id"].tolist()]
    for name in MERCHANT_CATEGORIES:
        f.category(f"merchant_{name}", [None if s is None else s[name] for s in shops])
    f.number("merchant_is_online", [math.nan if s is None else float(s["is_online"]) for s in shops])
    f.number("merchant_is_chain", [math.nan if s is None else float(s["is_chain"]) for s in shops])
    for name, values in _history(data).items():
        f.number(name, values)
    return f


def squeezed(value: Any) -> str:
    """`shape` with every run of one class written once: the id's format, not its length or content."""
    return NULL if value is None else _RUNS.sub(r"\1", shape(value))


def _id_facts(value: str, detail: str) -> dict[str, Any]:
    """The facts of one id at a level of `detail`:
    - "format": its format alone, as a pattern would say it (squeezed shape, length, digit count,
      separators, the type letter of a structured id, a VPA's handle and local-part format);
    - "shape": also its full character-class shape and first 1-3 characters (a VPA's start is a name);
    - "numbers": also the numbers in it (an IP's octets, an id's ordinal: content that names an entity)."""
    vpa = "@" in value
    facts: dict[str, Any] = {"length": len(value), "squeezed": squeezed(value),
                             "digits": sum(ch.isdigit() for ch in value), "has_dot": "." in value,
                             "has_hyphen": "-" in value}
    if not vpa:
        facts["type_letter"] = value[:1] if value[:1].isalpha() else ""
    if vpa:
        local, handle = value.rsplit("@", 1)
        facts["vpa_handle"], facts["vpa_local_format"] = handle, squeezed(local)
    if detail in ("shape", "numbers"):
        facts.update(prefix1=value[:1], prefix2=value[:2], prefix3=value[:3], shape=shape(value))
        if vpa:
            facts["vpa_local_shape"] = shape(value.rsplit("@", 1)[0])
    if detail == "numbers":
        runs = digit_runs(value)
        facts["digit_runs"] = len(runs)
        for k in range(MAX_RUNS):
            facts[f"run{k}"] = runs[k] if k < len(runs) else math.nan
    return facts


ID_DETAILS = ("format", "shape", "numbers")
_ID_CATEGORIES = frozenset(("prefix1", "prefix2", "prefix3", "shape", "squeezed", "type_letter", "vpa_handle",
                            "vpa_local_shape", "vpa_local_format"))


def null_pattern(data: AuditData) -> npt.NDArray[np.int64]:
    """Which id-like fields are null, as a bit mask per row: the kind of payment (card, UPI, POS, ...)
    that the mere presence of an id already tells."""
    pattern = np.zeros(data.n, dtype=np.int64)
    for bit, name in enumerate(ID_FIELDS):
        pattern |= np.array([v is None for v in data.columns[name].tolist()], dtype=np.int64) << bit
    return pattern


def id_presence(data: AuditData, train: slice) -> Features:
    """Only whether each id-like field is there: the baseline that the format features add to."""
    f = Features(train)
    pattern = null_pattern(data)
    for bit, name in enumerate(ID_FIELDS):
        f.number(f"{name}.present", (pattern >> bit) & 1 ^ 1)
    return f


def id_formats(data: AuditData, train: slice, detail: str = "format") -> Features:
    """Only what each id-like field looks like (audit part b), at a level of `detail` (`_id_facts`)."""
    f = Features(train)
    for name in ID_FIELDS:
        value_codes, distinct = codes(data.columns[name])
        facts = [None if v is None else _id_facts(v, detail) for v in distinct]
        keys = sorted({k for fact in facts if fact is not None for k in fact})
        for key in keys:
            per_value = [None if fact is None else fact.get(key) for fact in facts]
            if key in _ID_CATEGORIES:
                f.category_codes(f"{name}.{key}", *recode(value_codes, per_value))
            else:
                numeric = np.array([math.nan if v is None else float(v) for v in per_value])
                f.number(f"{name}.{key}", numeric[value_codes])
    return f


def payment_kind(data: AuditData) -> npt.NDArray[np.int64]:
    """One code per (payment_mode, transaction_type, channel, entry_mode): the kind of payment, in the raw
    fields themselves, that also decides which ids a row has at all."""
    c = data.columns
    kinds = [f"{m}|{t}|{ch}|{e}" for m, t, ch, e in zip(c["payment_mode"].tolist(), c["transaction_type"].tolist(),
                                                         c["channel"].tolist(), c["entry_mode"].tolist(), strict=True)]
    return codes(kinds)[0]


def payment_kind_only(data: AuditData, train: slice) -> Features:
    """The payment kind alone: what the presence of the ids can tell at most."""
    f = Features(train)
    f.category_codes("payment_kind", *codes(payment_kind(data).tolist()))
    return f
