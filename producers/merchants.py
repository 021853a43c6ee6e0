"""The merchant population: M merchants as columns, each drawn from its own seeded generator.

Merchant j depends only on (seed, j): category by P2M volume share, brand or local business, city by
digital-payment weight, coordinates near the city centre, online/offline, acquirer, risk tier,
terminals and a UPI VPA. `MerchantPools` indexes them for the stream: "an offline merchant of
category c in city k" and "an online merchant of category c", each with fallbacks so that a pick
always succeeds, whatever M is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers import ids
from synfinance.producers.seeding import Kind, Purpose, entity_rng
from synfinance.producers.world.categories import CATEGORIES, CATEGORY_WEIGHTS, DEITIES
from synfinance.producers.world.geography import CITIES, CITY_WEIGHTS
from synfinance.producers.world.payment_rails import BANK_NAMES, ISSUER_BANKS, UPI_APPS, person_handle
from synfinance.producers.world.personas import FEMALE_SHARE, FIRST_NAMES_FEMALE, FIRST_NAMES_MALE, SURNAMES

RISK_TIERS = ("LOW", "MEDIUM", "HIGH")
CHAIN_SHARE = 0.35         # share of merchants that are outlets of a brand (modelling choice)
CITY_JITTER_DEG = 0.06     # merchants lie within ~7 km of their city's centre
_ACQUIRER_WEIGHTS = np.array([b.debit_share + b.credit_share for b in ISSUER_BANKS[:-1]])
_ACQUIRER_WEIGHTS /= _ACQUIRER_WEIGHTS.sum()


PERSONAL_VPA_SHARE = 0.4  # small local shops that take UPI on the owner's own VPA (a person's, not a business's)


@dataclass(frozen=True)
class Merchants:
    """Merchant attributes as columns; row j is merchant `producers.ids.merchant_id(sid, j)`."""

    ids: list[str]
    names: list[str]
    category: npt.NDArray[np.int64]
    subcategory: list[str]
    city: npt.NDArray[np.int64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    is_online: npt.NDArray[np.bool_]
    is_chain: npt.NDArray[np.bool_]
    acquirer: list[str]
    risk: npt.NDArray[np.float64]
    risk_tier: npt.NDArray[np.int64]
    terminal_ids: list[tuple[str, ...]]
    vpa: list[str]
    sid: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def terminal_count(self) -> npt.NDArray[np.int64]:
        return self._terminals[1]

    @property
    def terminal_start(self) -> npt.NDArray[np.int64]:
        return self._terminals[0]

    @property
    def terminal_vocab(self) -> list[str]:
        """Every terminal id: the merchants' POS terminals, then one ATM per city."""
        return self._terminals[2]

    def atm_terminal(self, city: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return len(self.terminal_vocab) - len(CITIES) + city

    @cached_property
    def _terminals(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
        counts = np.array([len(t) for t in self.terminal_ids], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        atms = [ids.atm_terminal_id(self.sid, k) for k in range(len(CITIES))]
        vocab = [t for ts in self.terminal_ids for t in ts] + atms
        return starts, counts, vocab

    def record(self, j: int, updated_at_us: int) -> dict[str, Any]:
        """Merchant j as an Avro `Merchant` record."""
        city = CITIES[int(self.city[j])]
        category = CATEGORIES[int(self.category[j])]
        return {
            "merchant_id": self.ids[j], "name": self.names[j], "category": category.name,
            "subcategory": self.subcategory[j], "mcc": category.mcc, "city": city.name,
            "state": city.state, "region": city.region, "city_tier": city.tier,
            "latitude": float(self.latitude[j]), "longitude": float(self.longitude[j]),
            "is_online": bool(self.is_online[j]), "is_chain": bool(self.is_chain[j]),
            "acquirer_bank": self.acquirer[j], "risk_tier": RISK_TIERS[int(self.risk_tier[j])],
            "terminal_ids": list(self.terminal_ids[j]), "vpa": self.vpa[j], "updated_at": updated_at_us,
        }


def _pick(weights: npt.NDArray[np.float64], u: float) -> int:
    return int(min(np.searchsorted(np.cumsum(weights), u * weights.sum(), side="right"), len(weights) - 1))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())[:16] or "merchant"


_CITY_CUMULATIVE = np.cumsum(CITY_WEIGHTS)
_APP_WEIGHTS = np.array([a.share for a in UPI_APPS])
_BANK_WEIGHTS = np.array([b.debit_share for b in ISSUER_BANKS])
_CATEGORY_CUMULATIVE = np.cumsum(CATEGORY_WEIGHTS)


def build_merchants(seed: int, count: int, sid: str = "0") -> Merchants:
    """Generate `count` merchants; merchant j is the same for every `count` > j."""
    columns: dict[str, list[Any]] = {key: [] for key in (
        "ids", "names", "category", "subcategory", "city", "latitude", "longitude", "is_online",
        "is_chain", "acquirer", "risk", "terminal_ids", "vpa")}
    for j in range(count):
        rng = entity_rng(seed, Kind.MERCHANT, j, Purpose.PROFILE)
        u = rng.random(16)
        cat_code = int(min(np.searchsorted(_CATEGORY_CUMULATIVE, u[0], side="right"), len(CATEGORIES) - 1))
        category = CATEGORIES[cat_code]
        city_code = int(min(np.searchsorted(_CITY_CUMULATIVE, u[1], side="right"), len(CITIES) - 1))
        city = CITIES[city_code]
        brands = [b for b in category.brands if city.tier <= b.tier_min and (not b.states or city.state in b.states)]
        is_chain = bool(brands) and u[2] < CHAIN_SHARE
        if is_chain:
            brand = brands[int(u[3] * len(brands))]
            name, online = brand.name, brand.online
        else:
            region = city.region
            pattern = category.local_name_patterns[int(u[3] * len(category.local_name_patterns))]
            name = pattern.format(
                surname=SURNAMES[region][int(u[4] * len(SURNAMES[region]))],
                first=FIRST_NAMES_MALE[region][int(u[5] * len(FIRST_NAMES_MALE[region]))],
                deity=DEITIES[int(u[6] * len(DEITIES))], city=city.name)
            online = bool(u[7] < category.online_share * 0.5)  # local businesses are mostly offline
        risk = float(np.clip(category.risk * (0.6 + 0.8 * u[8]), 0.0, 1.0))
        columns["ids"].append(ids.merchant_id(sid, j))
        columns["names"].append(name)
        columns["category"].append(cat_code)
        columns["subcategory"].append(category.subcategories[int(u[9] * len(category.subcategories))])
        columns["city"].append(city_code)
        jitter = rng.uniform(-CITY_JITTER_DEG, CITY_JITTER_DEG, 2)
        columns["latitude"].append(round(city.lat + float(jitter[0]), 5))
        columns["longitude"].append(round(city.lon + float(jitter[1]), 5))
        columns["is_online"].append(online)
        columns["is_chain"].append(is_chain)
        columns["acquirer"].append(BANK_NAMES[_pick(_ACQUIRER_WEIGHTS, u[10])])
        columns["risk"].append(risk)
        terminals = 0 if online else 1 + int(u[11] * 4)
        columns["terminal_ids"].append(tuple(ids.terminal_id(sid, j, t) for t in range(terminals)))
        if not is_chain and not online and u[6] < PERSONAL_VPA_SHARE:
            region = city.region
            first_names = (FIRST_NAMES_FEMALE if u[15] < FEMALE_SHARE else FIRST_NAMES_MALE)[region]
            owner = (first_names[int(u[5] * len(first_names))], SURNAMES[region][int(u[4] * len(SURNAMES[region]))])
            # owners are persons too: numbered after every customer slot, so no ordinal is shared, and their
            # name and handle are drawn as anyone's
            handle = person_handle(UPI_APPS[_pick(_APP_WEIGHTS, u[12])], ISSUER_BANKS[_pick(_BANK_WEIGHTS, u[13])],
                                   u[14])
            columns["vpa"].append(ids.person_vpa(sid, *owner, (1 << 30) + j, handle))
        else:  # a merchant VPA from the acquirer's payment-gateway app
            handle = "@ybl" if u[11] < 0.5 else "@paytm"
            columns["vpa"].append(f"{_slug(name)}.{j + 1:07d}.{sid.lower()}{handle}")
    risks = np.asarray(columns["risk"], dtype=np.float64)
    return Merchants(
        ids=columns["ids"], names=columns["names"],
        category=np.asarray(columns["category"], dtype=np.int64), subcategory=columns["subcategory"],
        city=np.asarray(columns["city"], dtype=np.int64),
        latitude=np.asarray(columns["latitude"], dtype=np.float64),
        longitude=np.asarray(columns["longitude"], dtype=np.float64),
        is_online=np.asarray(columns["is_online"], dtype=bool),
        is_chain=np.asarray(columns["is_chain"], dtype=bool), acquirer=columns["acquirer"], risk=risks,
        risk_tier=np.digitize(risks, [0.25, 0.5]).astype(np.int64),
        terminal_ids=columns["terminal_ids"], vpa=columns["vpa"], sid=sid,
    )


@dataclass(frozen=True)
class MerchantPools:
    """Lookup tables: merchant candidates per (category, city) offline and per category online.

    `offline_start/offline_size[c, k]` slice `offline_members` (falling back to any offline merchant
    of city k, then to the online pool of c); `online_start/online_size[c]` slice `online_members`
    (falling back to any online merchant, then to every merchant).
    """

    offline_members: npt.NDArray[np.int64]
    offline_start: npt.NDArray[np.int64]
    offline_size: npt.NDArray[np.int64]
    online_members: npt.NDArray[np.int64]
    online_start: npt.NDArray[np.int64]
    online_size: npt.NDArray[np.int64]

    @classmethod
    def build(cls, merchants: Merchants) -> MerchantPools:
        n_cat, n_city = len(CATEGORIES), len(CITIES)
        everyone = np.arange(len(merchants), dtype=np.int64)
        online_all = everyone[merchants.is_online]
        online_pools = []
        for c in range(n_cat):
            pool = online_all[merchants.category[online_all] == c]
            online_pools.append(pool if len(pool) else (online_all if len(online_all) else everyone))
        offline_all = everyone[~merchants.is_online]
        offline_pools = []
        for c in range(n_cat):
            for k in range(n_city):
                in_city = offline_all[merchants.city[offline_all] == k]
                pool = in_city[merchants.category[in_city] == c]
                offline_pools.append(pool if len(pool) else (in_city if len(in_city) else online_pools[c]))
        off_members, off_start, off_size = _flatten(offline_pools)
        on_members, on_start, on_size = _flatten(online_pools)
        return cls(off_members, off_start.reshape(n_cat, n_city), off_size.reshape(n_cat, n_city),
                   on_members, on_start, on_size)

    @cached_property
    def _joint(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(start, size) indexed [online, category, city] (the online pools repeated over cities) into one
        array of the offline members, then the online ones: `pick` is one gather each. `build` never
        leaves a pool empty, so every slice holds at least one merchant."""
        shape, n_offline = self.offline_start.shape, len(self.offline_members)
        start = np.stack([self.offline_start, np.broadcast_to(n_offline + self.online_start[:, None], shape)])
        size = np.stack([self.offline_size, np.broadcast_to(self.online_size[:, None], shape)])
        members = np.concatenate([self.offline_members, self.online_members]).astype(np.int64)
        return start, size, members

    def pick(self, category: npt.NDArray[np.int64], city: npt.NDArray[np.int64], online: npt.NDArray[np.bool_],
             u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """One merchant per event: uniform over the pool selected by (category, city, online)."""
        start, size, members = self._joint
        kind = np.asarray(online, dtype=np.intp)
        n = size[kind, category, city]
        return members[start[kind, category, city] + np.minimum((u * n).astype(np.int64), n - 1)]

    def pick_one(self, category: int, city: int, online: bool, u: float) -> int:
        """`pick` for one event, in plain Python: the planners pick merchants one at a time, where numpy's
        per-call overhead on 1-element arrays dominates. Same arithmetic (u * size truncated), same merchant."""
        start, size, members = self._joint
        n = int(size[int(online), category, city])
        return int(members[int(start[int(online), category, city]) + min(int(u * n), n - 1)])


def _flatten(pools: list[npt.NDArray[np.int64]]) -> tuple[npt.NDArray[np.int64], ...]:
    sizes = np.array([len(p) for p in pools], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    members = np.concatenate(pools).astype(np.int64) if pools else np.empty(0, np.int64)
    return members, starts, sizes
