"""Drawing the customer population: customer k's profile from its own seeded generator, then the columns.

Customer k's PROFILE generator draws, in this order: one block of `ProfileDraw.COUNT` uniforms (the draw
layout below names each one's purpose), `N_CATEGORIES + 2` standard normals (amount scale, travel
propensity, then the category mix), a (category, 2) block for the favourite merchants, a (2, 4) block for
the two devices the bank has not seen, and (payees, 8) for the P2P payees. Customer k is the same for
every population size > k (but for the stream id in its identifiers). The per-customer work is Python on
lists (`_Table` below); what can be vectorised over the population is, in `_as_customers`.
"""

from __future__ import annotations

import bisect
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US
from synfinance.producers import ids
from synfinance.producers.customers import (
    DEVICE_SLOTS,
    EXTRA_DEVICES,
    N_CATEGORIES,
    N_MODES,
    PERSON_SLOTS,
    PHONE_LIFETIME_DAYS,
    Customers,
)
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
from synfinance.producers.world.calendar import OCCUPATIONS
from synfinance.producers.world.categories import CATEGORIES, CATEGORY_CALIBRATION, CATEGORY_WEIGHTS
from synfinance.producers.world.geography import CITIES, CITY_WEIGHTS, REGIONS, City
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
    Persona,
)


class ProfileDraw:
    """The draw layout: which uniform of customer k's profile block decides what (APPEND-ONLY: moving an index
    changes every customer). `PHONE_*` are the first of three (+ phone slot 0..2), `HOLDS` the first of six
    (+ payment mode code), `CARD_*` bases (+ card mode code: DEBIT_CARD 1, CREDIT_CARD 2, so index 36 is never
    read). `VPA_HANDLE` is the same uniform as the credit card's last four digits (CARD_LAST_FOUR +
    CREDIT_CARD): so it has always been, and the records depend on it."""

    PERSONA = 0
    OCCUPATION = 1
    GENDER = 2
    AGE = 3
    INCOME_BRACKET = 4
    INCOME_IN_BRACKET = 5
    HOME_CITY = 6
    FIRST_NAME = 7
    SURNAME = 8
    HOME_LAT = 9
    HOME_LON = 10
    MONTHLY_RATE = 11
    CREDIT_SCORE = 12
    ACCOUNT_AGE = 13
    SECOND_PHONE = 14
    THIRD_PHONE = 15
    UPI_APP = 16
    PHONE_OS = 17
    PHONE_IP_A = 20
    PHONE_IP_B = 23
    PHONE_IP_C = 26
    HOLDS = 29
    BANK = 35
    CARD_PRODUCT = 36
    CARD_BIN = 38
    CARD_LAST_FOUR = 40
    VPA_HANDLE = 42
    WALLET = 43
    BNPL = 44
    PAYEE_COUNT = 45
    NEW_PHONE = 46
    COUNT = 48  # uniforms drawn (fixed, so adding a field never shifts the others; 47 is spare)


HOME_JITTER_DEG = 0.05
PAYEE_UNIFORMS = 8  # per payee: region, its city, gender, first name, surname, app, bank, handle

# Purchases exclude P2P: UPI's share of all transactions (PAYMENT_MODE_SHARES, ~84%) includes P2P
# (P2P_SHARE_OF_UPI of it), so purchase mode weights use UPI's P2M part only.
_MODE_BASE = np.array([PAYMENT_MODE_SHARES[m.lower()] * MODE_CALIBRATION[m.lower()] for m in PAYMENT_MODES])
_MODE_BASE[UPI] *= 1.0 - P2P_SHARE_OF_UPI
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


class _Person(NamedTuple):
    """What the later draws of a customer need of the first ones."""

    persona: Persona
    city: City
    first: str
    surname: str
    income_inr: float


class _Columns(dict[str, list[Any]]):
    """The population's attributes as lists, appended customer after customer (and device, instrument, payee
    after device, instrument, payee), turned into arrays once at the end."""

    def put(self, key: str, value: Any) -> None:
        self.setdefault(key, []).append(value)


def build_customers(seed: int, count: int, pools: MerchantPools, start_us: int, sid: str = "0") -> Customers:
    """Generate `count` customers; customer k is the same for every `count` > k (but for the stream id in
    its identifiers)."""
    cols = _Columns()
    start_day = start_us // DAY_US
    for k in range(count):
        rng = entity_rng(seed, Kind.CUSTOMER, k, Purpose.PROFILE)
        u = rng.random(ProfileDraw.COUNT).tolist()
        cols.put("z", rng.standard_normal(N_CATEGORIES + 2))
        cols.put("fav_u", rng.random((N_CATEGORIES, 2)))
        person = _draw_person(cols, u, start_day)
        _draw_devices(cols, rng, u, k, person.persona, start_us)
        _draw_instruments(cols, u, k, sid, person)
        _draw_payees(cols, rng, u, k, person.city)
        cols.put("ids", ids.customer_id(sid, k))
    return _as_customers(cols, count, pools, sid)


def _draw_person(cols: _Columns, u: list[float], start_day: int) -> _Person:
    """Who the customer is: persona, occupation, gender, age, income, home, name, spending rate, credit band,
    account age."""
    p = _PERSONA_TABLE.pick(u[ProfileDraw.PERSONA])
    persona = PERSONAS[p]
    table, codes = _OCCUPATION_TABLES[p]
    gender_u = u[ProfileDraw.GENDER]
    gender = 0 if gender_u < FEMALE_SHARE else (1 if gender_u < 0.995 else 2)
    age = persona.age_min + int(u[ProfileDraw.AGE] * (persona.age_max - persona.age_min + 1))
    low, high = INCOME_BRACKETS_INR[_INCOME_TABLES[p].pick(u[ProfileDraw.INCOME_BRACKET])]
    income_inr = low * (high / low) ** u[ProfileDraw.INCOME_IN_BRACKET]
    city_code = _CITY_TABLE.pick(u[ProfileDraw.HOME_CITY])
    city = CITIES[city_code]
    first_names = FIRST_NAMES_FEMALE if gender == 0 else FIRST_NAMES_MALE
    first = first_names[city.region][int(u[ProfileDraw.FIRST_NAME] * len(first_names[city.region]))]
    surname = SURNAMES[city.region][int(u[ProfileDraw.SURNAME] * len(SURNAMES[city.region]))]
    cols.put("names", f"{first} {surname}")
    cols.put("persona", p)
    cols.put("occupation", codes[table.pick(u[ProfileDraw.OCCUPATION])])
    cols.put("gender", gender)
    cols.put("age", age)
    cols.put("income_paise", round(income_inr) * 100)
    cols.put("home_city", city_code)
    cols.put("region", _REGION_INDEX[city.region])
    cols.put("home_lat", round(city.lat + (u[ProfileDraw.HOME_LAT] - 0.5) * 2 * HOME_JITTER_DEG, 5))
    cols.put("home_lon", round(city.lon + (u[ProfileDraw.HOME_LON] - 0.5) * 2 * HOME_JITTER_DEG, 5))
    cols.put("monthly_rate", persona.txns_per_month_min
             + u[ProfileDraw.MONTHLY_RATE] * (persona.txns_per_month_max - persona.txns_per_month_min))
    cols.put("digital_familiarity", persona.digital_familiarity)
    score = 0.35 * min(income_inr / 200_000, 1.0) + 0.25 * min(age / 60, 1.0) + 0.4 * u[ProfileDraw.CREDIT_SCORE]
    cols.put("credit_band", min(int(score * 5), 4))
    cols.put("open_day", start_day - 30 - int(u[ProfileDraw.ACCOUNT_AGE] * 15 * 365))
    return _Person(persona, city, first, surname, income_inr)


def _draw_devices(cols: _Columns, rng: np.random.Generator, u: list[float], k: int, persona: Persona,
                  start_us: int) -> None:
    """The phone(s) the customer pays from (1-3), then the two the bank has not seen (see EXTRA_DEVICES),
    and when the customer switches to the new phone."""
    n_devices = 1 + int(u[ProfileDraw.SECOND_PHONE] < 0.35) + int(u[ProfileDraw.THIRD_PHONE] < 0.08)
    ios = 0.35 if persona.name == "affluent" else 0.05
    app = UPI_APPS[_APP_TABLE.pick(u[ProfileDraw.UPI_APP])].name
    cols.put("device_count", n_devices)
    extra = rng.random((EXTRA_DEVICES, 4))
    for d in range(n_devices + EXTRA_DEVICES):
        if d < n_devices:
            os_u, a, b, c = (u[ProfileDraw.PHONE_OS + d], u[ProfileDraw.PHONE_IP_A + d],
                             u[ProfileDraw.PHONE_IP_B + d], u[ProfileDraw.PHONE_IP_C + d])
        else:  # an unseen device: its own four uniforms (os, then the address's three)
            os_u, a, b, c = extra[d - n_devices]
        cols.put("device_ordinal", k * DEVICE_SLOTS + d)
        cols.put("device_os", "iOS" if os_u < ios else "Android")
        cols.put("device_app", app)
        cols.put("device_ip", ids.ip_address(a, b, c))
    cols.put("new_phone_us", start_us + int(-np.log1p(-u[ProfileDraw.NEW_PHONE]) * PHONE_LIFETIME_DAYS * DAY_US))


def _draw_instruments(cols: _Columns, u: list[float], k: int, sid: str, person: _Person) -> None:
    """Which payment modes the customer holds, then one instrument per mode (a row for every mode, held or
    not): card BIN and masked PAN, the UPI VPA (spelled later, all at once), wallet and BNPL providers."""
    familiarity, income_inr = person.persona.digital_familiarity, person.income_inr
    holds = [u[ProfileDraw.HOLDS + mode] < chance for mode, chance in (
        (UPI, 0.80 + 0.20 * familiarity),
        (DEBIT_CARD, 0.85),
        (CREDIT_CARD, 0.85 if income_inr > 100_000 else 0.55 if income_inr > 50_000 else 0.12),
        (WALLET, 0.25 + 0.35 * familiarity),
        (NET_BANKING, 0.45 + (0.3 if income_inr > 50_000 else 0.0)),
        (BNPL, 0.12 * familiarity))]
    if not (holds[UPI] or holds[DEBIT_CARD]):
        holds[DEBIT_CARD] = True
    cols.put("holds", holds)
    bank = ISSUER_BANKS[_BANK_TABLE.pick(u[ProfileDraw.BANK])]
    handle = person_handle(UPI_APPS[_APP_TABLE.pick(u[ProfileDraw.UPI_APP])], bank, u[ProfileDraw.VPA_HANDLE])
    for mode in range(N_MODES):
        cols.put("instrument_ids", ids.instrument_id(sid, k, mode))
        network, card_bin, pan, vpa, issuer = -1, None, None, None, bank.name
        if mode in (DEBIT_CARD, CREDIT_CARD):
            pairs, table = ((_DEBIT_PRODUCTS[0], _DEBIT_TABLE) if mode == DEBIT_CARD
                            else (_CREDIT_PRODUCTS[0], _CREDIT_TABLE))
            issuer, network_name = pairs[table.pick(u[ProfileDraw.CARD_PRODUCT + mode])]
            bins = CARD_BINS[(issuer, network_name, "debit" if mode == DEBIT_CARD else "credit")]
            card_bin = bins[int(u[ProfileDraw.CARD_BIN + mode] * len(bins))]
            # BIN, the masked middle, the last four: 16 digits, 15 on Amex
            masked = "X" * (PAN_LENGTH[network_name] - len(card_bin) - 4)
            pan = f"{card_bin}{masked}{int(u[ProfileDraw.CARD_LAST_FOUR + mode] * 10_000):04d}"
            network = _NETWORK_CODE[network_name.upper()]
        elif mode == UPI:
            # spelled after the loop, when every person's tag is computed at once
            vpa = (person.first, person.surname, k * PERSON_SLOTS + PERSON_SLOTS - 1, handle)
        elif mode == WALLET:
            issuer = _WALLETS[_WALLET_TABLE.pick(u[ProfileDraw.WALLET])]
        elif mode == BNPL:
            issuer = _BNPLS[_BNPL_TABLE.pick(u[ProfileDraw.BNPL])]
        cols.put("instrument_network", network)
        cols.put("instrument_bin", card_bin)
        cols.put("instrument_pan", pan)
        cols.put("instrument_vpa", vpa)
        cols.put("instrument_bank", issuer)


def _draw_payees(cols: _Columns, rng: np.random.Generator, u: list[float], k: int, city: City) -> None:
    """The family and friends the customer sends money to (3-14), each with a name and a VPA handle."""
    n_payees = 3 + int(u[ProfileDraw.PAYEE_COUNT] * 12)
    cols.put("payee_count", n_payees)
    for slot, (a, b, c, d, e, f, g, h) in enumerate(rng.random((n_payees, PAYEE_UNIFORMS)).tolist()):
        # mostly family and friends from the customer's own region
        # (elsewhere: where people live, as a customer's own home city is drawn)
        region = city.region if a < 0.7 else CITIES[_CITY_TABLE.pick(b)].region
        names = FIRST_NAMES_FEMALE if c < FEMALE_SHARE else FIRST_NAMES_MALE
        name = names[region][int(d * len(names[region]))]
        sname = SURNAMES[region][int(e * len(SURNAMES[region]))]
        handle = person_handle(UPI_APPS[_APP_TABLE.pick(f)], ISSUER_BANKS[_BANK_TABLE.pick(g)], h)
        cols.put("payee_vpas", (name, sname, k * PERSON_SLOTS + slot, handle))


def _as_customers(cols: _Columns, count: int, pools: MerchantPools, sid: str) -> Customers:
    """The drawn lists as `Customers` columns, with what is vectorised over the population: VPAs spelled,
    payment mode and category mixes, favourite merchants, amount scale, travel propensity, table offsets."""
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


def _cumulative(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative[:, -1] = 1.0  # exact, so a uniform draw below 1 always lands inside
    return cumulative


def _starts(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
