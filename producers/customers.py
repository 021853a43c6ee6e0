"""The customer population: N customers as columns, each drawn from its own seeded generator.

Customer k depends only on (seed, k) and the merchant population: persona, age, gender, occupation,
income, home city, devices, payment instruments (UPI VPA, cards with BIN and masked PAN, wallet,
net banking, BNPL), spending profile (monthly rate, category mix, amount scale), travel propensity,
favourite merchants, and the P2P payees they send money to. The stream reads these columns.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US
from synfinance.producers import ids
from synfinance.producers.events import (
    BNPL,
    CARD_NETWORKS,
    CREDIT_CARD,
    DEBIT_CARD,
    NET_BANKING,
    PAYMENT_MODES,
    UPI,
    WALLET,
)
from synfinance.producers.merchants import MerchantPools
from synfinance.producers.seeding import Kind, Purpose, entity_rng
from synfinance.producers.world.calendar import HOURLY_PROFILES, OCCUPATIONS
from synfinance.producers.world.categories import CATEGORIES, CATEGORY_CALIBRATION, CATEGORY_WEIGHTS
from synfinance.producers.world.geography import CITIES, CITY_WEIGHTS, REGIONS
from synfinance.producers.world.payment_rails import (
    BNPL_PROVIDERS,
    CARD_BINS,
    ISSUER_BANKS,
    MODE_CALIBRATION,
    P2P_SHARE_OF_UPI,
    PAN_LENGTH,
    PAYMENT_MODE_SHARES,
    UPI_APPS,
    WALLET_PROVIDERS,
    card_product_weights,
    person_handle,
)
from synfinance.producers.world.personas import (
    FEMALE_SHARE,
    FIRST_NAMES_FEMALE,
    FIRST_NAMES_MALE,
    INCOME_BRACKETS_INR,
    PERSONA_WEIGHTS,
    PERSONAS,
    SURNAMES,
)

GENDERS = ("FEMALE", "MALE", "OTHER")
CREDIT_BANDS = ("<600", "600-699", "700-749", "750-799", "800+")
HOME_JITTER_DEG = 0.05
N_MODES = len(PAYMENT_MODES)
N_CATEGORIES = len(CATEGORIES)

# Purchases exclude P2P: UPI's share of all transactions (PAYMENT_MODE_SHARES, ~84%) includes P2P
# (P2P_SHARE_OF_UPI of it), so purchase mode weights use UPI's P2M part only.
_MODE_BASE = np.array([PAYMENT_MODE_SHARES[m.lower()] * MODE_CALIBRATION[m.lower()] for m in PAYMENT_MODES])
_MODE_BASE[UPI] *= 1.0 - P2P_SHARE_OF_UPI
P2P_PROBABILITY = PAYMENT_MODE_SHARES["upi"] * P2P_SHARE_OF_UPI  # of all transactions, for UPI holders
_PERSONA_MODES = np.array([[p.payment_mode_affinity.get(m.lower(), 1.0) for m in PAYMENT_MODES] for p in PERSONAS])
_PERSONA_CATEGORIES_RAW = np.array([[CATEGORY_WEIGHTS[c] * p.category_affinity.get(cat.name, 1.0)
                                     for c, cat in enumerate(CATEGORIES)] for p in PERSONAS])


def category_mix(raw: npt.NDArray[np.float64], calibration: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each persona's category mix: the weights times affinities times CATEGORY_CALIBRATION, normalised."""
    mix = raw * calibration
    return mix / mix.sum(axis=1, keepdims=True)


_PERSONA_CATEGORIES = category_mix(_PERSONA_CATEGORIES_RAW, np.array([CATEGORY_CALIBRATION[c.name]
                                                                      for c in CATEGORIES]))
_PERSONA_TICKET = np.array([np.sqrt(p.ticket_min_inr * p.ticket_max_inr) for p in PERSONAS])
_PERSONA_TICKET /= float(np.dot(PERSONA_WEIGHTS / PERSONA_WEIGHTS.sum(), _PERSONA_TICKET))
_OCCUPATION_INDEX = {name: i for i, name in enumerate(OCCUPATIONS)}
_REGION_INDEX = {name: i for i, name in enumerate(REGIONS)}
_DEBIT_PRODUCTS = card_product_weights("debit")
_CREDIT_PRODUCTS = card_product_weights("credit")
_NETWORK_CODE = {name.upper(): i for i, name in enumerate(CARD_NETWORKS)}
_BANK_WEIGHTS = np.array([b.debit_share for b in ISSUER_BANKS])
_UPI_APP_WEIGHTS = np.array([a.share for a in UPI_APPS])
_WALLETS, _WALLET_WEIGHTS = list(WALLET_PROVIDERS), np.array(list(WALLET_PROVIDERS.values()))
_BNPLS, _BNPL_WEIGHTS = list(BNPL_PROVIDERS), np.array(list(BNPL_PROVIDERS.values()))
_DRAWS = 48  # uniforms drawn per customer profile (fixed, so adding a field never shifts the others)
# Device table rows per customer: the registered phones (1-3, listed in the Customer record), then two the
# bank has not seen: the phone the customer switches to some day (NEW_PHONE), and a borrowed or new
# browser device used now and then (OTHER_DEVICE). Fraudsters' phones are just as unknown to the bank.
EXTRA_DEVICES = 2
MAX_CUSTOMERS = 2_000_000  # arrival keys pack the customer ordinal into 21 bits
DEVICE_SLOTS = 8  # device ordinal = k * DEVICE_SLOTS + slot (see producers.ids.device_ids)
PHONE_LIFETIME_DAYS = 365.0  # mean time to a new phone, a reinstall or a new SIM (a new device id to the bank)
PERSON_SLOTS = 16  # person ordinal = k * PERSON_SLOTS + slot: payees in slots 0..14, the customer in 15


class _Table:
    """A categorical distribution over 0..n-1 sampled with a given uniform (bisect on a Python list:
    this runs once per customer per attribute, where numpy's per-call overhead would dominate)."""

    def __init__(self, weights: Any) -> None:
        self.cumulative = np.cumsum(np.asarray(weights, dtype=np.float64)).tolist()
        self.last = len(self.cumulative) - 1

    def pick(self, u: float) -> int:
        return min(bisect.bisect_right(self.cumulative, u * self.cumulative[-1]), self.last)


_PERSONA_TABLE = _Table(PERSONA_WEIGHTS)
_CITY_TABLE = _Table(CITY_WEIGHTS)
_BANK_TABLE = _Table(_BANK_WEIGHTS)
_APP_TABLE = _Table(_UPI_APP_WEIGHTS)
_WALLET_TABLE = _Table(_WALLET_WEIGHTS)
_BNPL_TABLE = _Table(_BNPL_WEIGHTS)
_DEBIT_TABLE = _Table(_DEBIT_PRODUCTS[1])
_CREDIT_TABLE = _Table(_CREDIT_PRODUCTS[1])
_OCCUPATION_TABLES = [(_Table(list(p.occupation_weights.values())),
                       [_OCCUPATION_INDEX[o] for o in p.occupation_weights]) for p in PERSONAS]
_INCOME_TABLES = [_Table(p.income_bracket_weights) for p in PERSONAS]


@dataclass(frozen=True)
class Customers:
    """Customer attributes as columns; row k is customer `customer_id(k)`."""

    ids: list[str]
    names: list[str]
    persona: npt.NDArray[np.int64]
    occupation: npt.NDArray[np.int64]
    gender: npt.NDArray[np.int64]
    age: npt.NDArray[np.int64]
    income_paise: npt.NDArray[np.int64]
    home_city: npt.NDArray[np.int64]
    region: npt.NDArray[np.int64]
    home_lat: npt.NDArray[np.float64]
    home_lon: npt.NDArray[np.float64]
    monthly_rate: npt.NDArray[np.float64]
    amount_scale: npt.NDArray[np.float64]
    travel_propensity: npt.NDArray[np.float64]
    digital_familiarity: npt.NDArray[np.float64]
    credit_band: npt.NDArray[np.int64]
    open_day: npt.NDArray[np.int64]
    # devices: rows device_start[k] .. device_start[k] + device_count[k] of the device table
    device_start: npt.NDArray[np.int64]
    device_count: npt.NDArray[np.int64]   # registered; rows start + count, + count + 1 are the unseen two
    new_phone_us: npt.NDArray[np.int64]   # from this event time the customer pays from the new phone
    device_ids: list[str]
    device_os: list[str]
    device_app: list[str]
    device_ip: list[str]
    # instruments: row k * N_MODES + mode of the instrument table; `holds[k, mode]` says it exists
    holds: npt.NDArray[np.bool_]
    instrument_ids: list[str]
    instrument_network: npt.NDArray[np.int64]
    instrument_bin: list[str | None]
    instrument_pan: list[str | None]
    instrument_vpa: list[str | None]
    instrument_bank: list[str]
    # spending: cumulative weights, one row per customer
    offline_mode_cum: npt.NDArray[np.float64]
    online_mode_cum: npt.NDArray[np.float64]
    category_cum: npt.NDArray[np.float64]
    favourite: npt.NDArray[np.int64]     # (N, categories) favourite merchant per category
    payee_start: npt.NDArray[np.int64]
    payee_count: npt.NDArray[np.int64]
    payee_vpas: list[str]
    sid: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def _flat_tables(self) -> dict[str, npt.NDArray[np.float64]]:
        # row k's cumulative weights shifted into [k, k + 1]: one searchsorted picks for many customers
        # "mode": rows 2k (shops) and 2k + 1 (online) of customer k
        modes = np.stack([self.offline_mode_cum, self.online_mode_cum], axis=1).reshape(-1, N_MODES)
        return {name: (table + np.arange(len(table))[:, None]).ravel() for name, table in (
            ("category", self.category_cum), ("mode", modes))}

    @cached_property
    def _rows_bounded(self) -> dict[str, bool]:
        """Per flat table: whether it is sorted, NaN-free, and row k's entries lie in [k, k + 1] (see _pick_flat)."""
        return {name: _rows_bounded(flat, width) for name, flat, width in (
            ("category", self._flat_tables["category"], N_CATEGORIES), ("mode", self._flat_tables["mode"], N_MODES))}

    @cached_property
    def upi_holders(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.holds[:, UPI]).astype(np.int64)

    def phone_at(self, customer: npt.NDArray[np.int64], time_us: npt.NDArray[np.int64],
                 slot: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
        """The device row a customer pays from at `time_us`: registered phone `slot` (default the first),
        except that from `new_phone_us` on the new phone replaces the first one."""
        slot = np.zeros(len(customer), dtype=np.int64) if slot is None else slot
        switched = (slot == 0) & (time_us >= self.new_phone_us[customer])
        return self.device_start[customer] + np.where(switched, self.device_count[customer], slot)

    def pick_category(self, customer: npt.NDArray[np.int64], u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Per-row draw of a merchant category from each customer's category mix."""
        return _pick_flat(self._flat_tables["category"], N_CATEGORIES, customer, u, self._rows_bounded["category"])

    def pick_mode(self, customer: npt.NDArray[np.int64], online: npt.NDArray[np.bool_],
                  u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Per-row draw of a payment mode from the customer's holdings (online, or at a shop)."""
        return _pick_flat(self._flat_tables["mode"], N_MODES, 2 * customer + online, u, self._rows_bounded["mode"])

    def record(self, k: int, updated_at_us: int) -> dict[str, Any]:
        """Customer k as an Avro `Customer` record."""
        city = CITIES[int(self.home_city[k])]
        start, count = int(self.device_start[k]), int(self.device_count[k])
        devices = [{"device_id": self.device_ids[d], "os": self.device_os[d], "app": self.device_app[d]}
                   for d in range(start, start + count)]
        instruments = []
        for mode in range(N_MODES):
            if not self.holds[k, mode]:
                continue
            i = k * N_MODES + mode
            network = int(self.instrument_network[i])
            instruments.append({
                "instrument_id": self.instrument_ids[i], "payment_mode": PAYMENT_MODES[mode],
                "card_network": CARD_NETWORKS[network] if network >= 0 else None,
                "card_type": {DEBIT_CARD: "DEBIT", CREDIT_CARD: "CREDIT"}.get(mode),
                "card_bin": self.instrument_bin[i], "masked_pan": self.instrument_pan[i],
                "vpa": self.instrument_vpa[i], "issuer_bank": self.instrument_bank[i]})
        profile = HOURLY_PROFILES[OCCUPATIONS[int(self.occupation[k])]]
        return {
            "customer_id": self.ids[k], "name": self.names[k], "age": int(self.age[k]),
            "gender": GENDERS[int(self.gender[k])], "occupation": OCCUPATIONS[int(self.occupation[k])],
            "segment": PERSONAS[int(self.persona[k])].name, "monthly_income_paise": int(self.income_paise[k]),
            "home_city": city.name, "home_state": city.state, "home_region": city.region,
            "home_city_tier": city.tier, "home_latitude": float(self.home_lat[k]),
            "home_longitude": float(self.home_lon[k]), "devices": devices, "instruments": instruments,
            "monthly_txn_rate": float(self.monthly_rate[k]), "amount_scale": float(self.amount_scale[k]),
            "active_hours": [h for h in range(24) if profile[h] >= 1.25 / 24],
            "travel_propensity": float(self.travel_propensity[k]),
            "credit_score_band": CREDIT_BANDS[int(self.credit_band[k])],
            "account_open_date": int(self.open_day[k]), "updated_at": updated_at_us,
        }


def build_customers(seed: int, count: int, pools: MerchantPools, start_us: int, sid: str = "0") -> Customers:
    """Generate `count` customers; customer k is the same for every `count` > k (but for the stream id in
    its identifiers)."""
    cols: dict[str, list[Any]] = {}

    def put(key: str, value: Any) -> None:
        cols.setdefault(key, []).append(value)

    start_day = start_us // DAY_US
    for k in range(count):
        rng = entity_rng(seed, Kind.CUSTOMER, k, Purpose.PROFILE)
        u = rng.random(_DRAWS).tolist()
        z = rng.standard_normal(N_CATEGORIES + 2)
        fav_u = rng.random((N_CATEGORIES, 2))
        p = _PERSONA_TABLE.pick(u[0])
        persona = PERSONAS[p]
        table, codes = _OCCUPATION_TABLES[p]
        occupation = codes[table.pick(u[1])]
        gender = 0 if u[2] < FEMALE_SHARE else (1 if u[2] < 0.995 else 2)
        age = persona.age_min + int(u[3] * (persona.age_max - persona.age_min + 1))
        low, high = INCOME_BRACKETS_INR[_INCOME_TABLES[p].pick(u[4])]
        income_inr = low * (high / low) ** u[5]
        city_code = _CITY_TABLE.pick(u[6])
        city = CITIES[city_code]
        first_names = FIRST_NAMES_FEMALE if gender == 0 else FIRST_NAMES_MALE
        first = first_names[city.region][int(u[7] * len(first_names[city.region]))]
        surname = SURNAMES[city.region][int(u[8] * len(SURNAMES[city.region]))]
        put("names", f"{first} {surname}")
        put("persona", p)
        put("occupation", occupation)
        put("gender", gender)
        put("age", age)
        put("income_paise", round(income_inr) * 100)
        put("home_city", city_code)
        put("region", _REGION_INDEX[city.region])
        put("home_lat", round(city.lat + (u[9] - 0.5) * 2 * HOME_JITTER_DEG, 5))
        put("home_lon", round(city.lon + (u[10] - 0.5) * 2 * HOME_JITTER_DEG, 5))
        rate = persona.txns_per_month_min + u[11] * (persona.txns_per_month_max - persona.txns_per_month_min)
        put("monthly_rate", rate)
        put("z", z)
        put("digital_familiarity", persona.digital_familiarity)
        score = 0.35 * min(income_inr / 200_000, 1.0) + 0.25 * min(age / 60, 1.0) + 0.4 * u[12]
        put("credit_band", min(int(score * 5), 4))
        put("open_day", start_day - 30 - int(u[13] * 15 * 365))

        # devices (1-3): the phone(s) the customer pays from
        n_devices = 1 + int(u[14] < 0.35) + int(u[15] < 0.08)
        ios = 0.35 if persona.name == "affluent" else 0.05
        app = UPI_APPS[_APP_TABLE.pick(u[16])].name
        put("device_count", n_devices)
        extra = rng.random((EXTRA_DEVICES, 4))
        for d in range(n_devices + EXTRA_DEVICES):
            a, b, c = (u[17 + d], u[20 + d], u[23 + d]) if d < n_devices else extra[d - n_devices, :3]
            put("device_ordinal", k * DEVICE_SLOTS + d)
            put("device_os", "iOS" if a < ios else "Android")
            put("device_app", app)
            put("device_ip", ids.ip_address(b, c, u[26 + d] if d < n_devices else extra[d - n_devices, 3]))
        put("new_phone_us", start_us + int(-np.log1p(-u[46]) * PHONE_LIFETIME_DAYS * DAY_US))

        # instruments: which modes the customer holds, then one instrument per held mode
        familiarity = persona.digital_familiarity
        holds = [
            u[29] < 0.80 + 0.20 * familiarity,                                    # UPI
            u[30] < 0.85,                                                         # debit card
            u[31] < (0.85 if income_inr > 100_000 else 0.55 if income_inr > 50_000 else 0.12),
            u[32] < 0.25 + 0.35 * familiarity,                                    # wallet
            u[33] < 0.45 + (0.3 if income_inr > 50_000 else 0.0),                 # net banking
            u[34] < 0.12 * familiarity,                                           # BNPL
        ]
        if not (holds[UPI] or holds[DEBIT_CARD]):
            holds[DEBIT_CARD] = True
        put("holds", holds)
        bank = ISSUER_BANKS[_BANK_TABLE.pick(u[35])]
        handle = person_handle(UPI_APPS[_APP_TABLE.pick(u[16])], bank, u[42])
        for mode in range(N_MODES):
            put("instrument_ids", ids.instrument_id(sid, k, mode))
            network, card_bin, pan, vpa, issuer = -1, None, None, None, bank.name
            if mode in (DEBIT_CARD, CREDIT_CARD):
                pairs, table = ((_DEBIT_PRODUCTS[0], _DEBIT_TABLE) if mode == DEBIT_CARD
                                else (_CREDIT_PRODUCTS[0], _CREDIT_TABLE))
                issuer, network_name = pairs[table.pick(u[36 + mode])]
                bins = CARD_BINS[(issuer, network_name, "debit" if mode == DEBIT_CARD else "credit")]
                card_bin = bins[int(u[38 + mode] * len(bins))]
                # BIN, the masked middle, the last four: 16 digits, 15 on Amex
                masked = "X" * (PAN_LENGTH[network_name] - len(card_bin) - 4)
                pan = f"{card_bin}{masked}{int(u[40 + mode] * 10_000):04d}"
                network = _NETWORK_CODE[network_name.upper()]
            elif mode == UPI:
                # spelled after the loop, when every person's tag is computed at once
                vpa = (first, surname, k * PERSON_SLOTS + PERSON_SLOTS - 1, handle)
            elif mode == WALLET:
                issuer = _WALLETS[_WALLET_TABLE.pick(u[43])]
            elif mode == BNPL:
                issuer = _BNPLS[_BNPL_TABLE.pick(u[44])]
            put("instrument_network", network)
            put("instrument_bin", card_bin)
            put("instrument_pan", pan)
            put("instrument_vpa", vpa)
            put("instrument_bank", issuer)

        put("fav_u", fav_u)

        # P2P payees: family and friends the customer sends money to
        n_payees = 3 + int(u[45] * 12)
        put("payee_count", n_payees)
        for slot, (a, b, c, d, e, f, g, h) in enumerate(rng.random((n_payees, 8)).tolist()):
            # mostly family and friends from the customer's own region
            # (elsewhere: where people live, as a customer's own home city is drawn)
            region = city.region if a < 0.7 else CITIES[_CITY_TABLE.pick(b)].region
            names = FIRST_NAMES_FEMALE if c < FEMALE_SHARE else FIRST_NAMES_MALE
            name = names[region][int(d * len(names[region]))]
            sname = SURNAMES[region][int(e * len(SURNAMES[region]))]
            handle = person_handle(UPI_APPS[_APP_TABLE.pick(f)], ISSUER_BANKS[_BANK_TABLE.pick(g)], h)
            put("payee_vpas", (name, sname, k * PERSON_SLOTS + slot, handle))
        put("ids", ids.customer_id(sid, k))

    for key in ("instrument_vpa", "payee_vpas"):
        cols[key] = _spelled(sid, cols[key])
    home_city = np.asarray(cols["home_city"], dtype=np.int64)
    personas = np.asarray(cols["persona"], dtype=np.int64)
    zs = np.stack(cols["z"])
    holdings = np.asarray(cols["holds"], dtype=bool)
    modes = _MODE_BASE * _PERSONA_MODES[personas] * holdings
    offline = modes.copy()
    offline[:, [NET_BANKING, BNPL]] = 0.0  # no net banking or BNPL at a shop counter
    offline[offline.sum(axis=1) == 0, DEBIT_CARD] = 1.0
    mix = _PERSONA_CATEGORIES[personas] * np.exp(0.5 * zs[:, 2:] - 0.125)
    fav_us = np.stack(cols["fav_u"])  # (N, C, 2)
    categories = np.broadcast_to(np.arange(N_CATEGORIES), (count, N_CATEGORIES))
    online_share = np.array([c.online_share for c in CATEGORIES])
    favourite = pools.pick(categories.ravel(), np.repeat(home_city, N_CATEGORIES),
                           (fav_us[:, :, 0] < online_share).ravel(), fav_us[:, :, 1].ravel())
    device_count = np.asarray(cols["device_count"], dtype=np.int64)
    device_ids = ids.device_ids(sid, np.asarray(cols["device_ordinal"], dtype=np.int64))
    payee_count = np.asarray(cols["payee_count"], dtype=np.int64)
    as_int: dict[str, Any] = {key: np.asarray(cols[key], dtype=np.int64) for key in (
        "occupation", "gender", "age", "income_paise", "region", "credit_band", "open_day",
        "instrument_network")}
    as_float: dict[str, Any] = {key: np.asarray(cols[key], dtype=np.float64) for key in (
        "home_lat", "home_lon", "monthly_rate", "digital_familiarity")}
    travel = np.array([PERSONAS[p].travel_propensity for p in range(len(PERSONAS))])[personas]
    return Customers(
        ids=cols["ids"], names=cols["names"], persona=personas, home_city=home_city, **as_int, **as_float,
        amount_scale=_PERSONA_TICKET[personas] * np.exp(0.25 * zs[:, 0] - 0.03125),
        travel_propensity=travel * np.exp(0.4 * zs[:, 1] - 0.08),
        device_start=_starts(device_count + EXTRA_DEVICES), device_count=device_count,
        new_phone_us=np.asarray(cols["new_phone_us"], dtype=np.int64), device_ids=device_ids,
        device_os=cols["device_os"], device_app=cols["device_app"], device_ip=cols["device_ip"],
        holds=holdings, instrument_ids=cols["instrument_ids"],
        instrument_bin=cols["instrument_bin"], instrument_pan=cols["instrument_pan"],
        instrument_vpa=cols["instrument_vpa"], instrument_bank=cols["instrument_bank"],
        offline_mode_cum=_cumulative(offline), online_mode_cum=_cumulative(modes),
        category_cum=_cumulative(mix), favourite=favourite.reshape(count, N_CATEGORIES),
        payee_start=_starts(payee_count), payee_count=payee_count, payee_vpas=cols["payee_vpas"], sid=sid,
    )


def _spelled(sid: str, people: list[Any]) -> list[Any]:
    """(first, last, person ordinal, handle) tuples as VPAs (None stays None), all tags in one call."""
    present = [p for p in people if p is not None]
    tags = iter(ids.person_tags(sid, np.array([p[2] for p in present], dtype=np.int64)))
    return [None if p is None else ids.vpa_from_tag(sid, p[0], p[1], next(tags), p[3]) for p in people]


def _pick_flat(flat: npt.NDArray[np.float64], width: int, row: npt.NDArray[np.int64],
               u: npt.NDArray[np.float64], bounded: bool = False) -> npt.NDArray[np.int64]:
    """min(#entries of `flat` <= row + u, less row * width, width - 1): the pick in row `row` for uniform u.

    When `bounded` (see _rows_bounded), the rows before `row` hold exactly row * width entries <= row + u, and
    an entry of a later row can only count once row + u has rounded up to row + 1, i.e. when every entry of
    the row counts too and the result is width - 1 anyway: so counting within the row gives the same pick,
    ~3x faster than a binary search of the whole table.
    """
    needle = row + u
    if bounded:
        # rows are sorted, so the entries <= needle are a prefix: its length is the first False (argmin), or
        # the whole row when the last entry counts (then the pick is width - 1)
        counted = flat.reshape(-1, width).take(row, axis=0) <= needle[:, None]
        return np.where(counted[:, -1], width - 1, np.argmin(counted, axis=1))
    position = np.searchsorted(flat, needle, side="right") - row * width
    return np.minimum(position, width - 1)


def _rows_bounded(flat: npt.NDArray[np.float64], width: int) -> bool:
    table = flat.reshape(-1, width)
    k = np.arange(len(table), dtype=np.float64)[:, None]
    return bool((flat[1:] >= flat[:-1]).all() and (table >= k).all() and (table <= k + 1).all())


def _cumulative(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative[:, -1] = 1.0  # exact, so a uniform draw below 1 always lands inside
    return cumulative


def _starts(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
