"""A `Plan`: what a fraud planner is handed, and the choices every planner makes the same way.

A plan holds the victim, the start time, the victim's own fraud generator, the actors and the world; its
methods pick a merchant, a far city, a fraudster's device or account, a price on the victim's own price
model, and emit a row with its labels. The planners themselves are in `producers.scenarios.planners`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, HOUR_US, IST_OFFSET_US
from synfinance.producers import prices
from synfinance.producers.customers import Customers
from synfinance.producers.labels import LabelDelays
from synfinance.producers.merchants import MerchantPools, Merchants
from synfinance.producers.scenarios.actors import FraudActors
from synfinance.producers.scenarios.rows import RowBuilder
from synfinance.producers.scenarios.specs import FRAUD_CODE
from synfinance.producers.world.categories import CATEGORY_NAMES
from synfinance.producers.world.geography import CITY_COST, CITY_WEIGHTS, DISTANCE_KM

CATEGORY = {name: code for code, name in enumerate(CATEGORY_NAMES)}
_CITY_CUM = np.cumsum(CITY_WEIGHTS)

T = TypeVar("T")


def choose(rng: np.random.Generator, options: Sequence[T] | npt.NDArray[Any]) -> T:
    """`rng.choice(options)` without turning `options` into an array on every call: for a uniform pick of
    one item, Generator.choice draws its index with rng.integers(0, len(options)), so this draws the same."""
    return options[int(rng.integers(0, len(options)))]  # type: ignore[no-any-return]


@dataclass
class Plan:
    """What a planner needs: who, when, with which generator, in which world."""

    customers: Customers
    merchants: Merchants
    pools: MerchantPools
    actors: FraudActors
    rows: RowBuilder
    rng: np.random.Generator
    victim: int
    start_us: int
    scenario: int
    delays: LabelDelays
    anchors: npt.NDArray[np.int64]  # indices into `anchor_rows` of the victim's legitimate rows this block
    anchor_rows: dict[str, npt.NDArray[np.int64]]

    @property
    def home(self) -> int:
        return int(self.customers.home_city[self.victim])

    def u3(self) -> tuple[float, float, float]:
        a, b, c = self.rng.random(3).tolist()
        return a, b, c

    def merchant(self, category: str, city: int, online: bool, strict: bool = True) -> int:
        """A merchant of `category` (in `city` if offline). If the city has no such shop: `strict` takes an
        online merchant of the category, otherwise any shop of the city."""
        code = CATEGORY[category]
        u = float(self.rng.random())  # the same draw as rng.random(1)[0]
        picked = self.pools.pick_one(code, city, online, u)
        if strict and self.merchants.category[picked] != code and not online:
            picked = self.pools.pick_one(code, city, True, u)
        return picked

    def has_merchant(self, category: str, city: int) -> bool:
        """Whether `merchant(category, city, False)` finds a merchant of that very category."""
        code = CATEGORY[category]
        return any(self.merchants.category[self.pools.pick_one(code, city, online, 0.0)] == code
                   for online in (False, True))

    def shop(self, category: str, city: int, online: bool, strict: bool = True) -> tuple[int, str]:
        """`merchant(...)` and the category of the shop it found (a small world may lack the one asked for:
        the fraud is then priced as what that shop sells)."""
        merchant = self.merchant(category, city, online, strict)
        return merchant, CATEGORY_NAMES[int(self.merchants.category[merchant])]

    def far_city(self, than: int, at_least_km: float = 1_000.0) -> int:
        """A city at least `at_least_km` away that has shops (fraud happens where merchants are)."""
        shops = self.actors.shop_cities
        for _ in range(30):
            city = min(int(np.searchsorted(_CITY_CUM, self.rng.random(), side="right")), len(_CITY_CUM) - 1)
            if DISTANCE_KM[than, city] >= at_least_km and shops[city]:
                return city
        return int(np.argmax(DISTANCE_KM[than] * shops))

    def fraud_device(self) -> int:
        return self.rows.fraud_device(int(self.rng.integers(len(self.actors.device_ids))))

    def fraud_payee(self) -> int:
        """One of the fraudsters' accounts that is not already among the victim's own payees."""
        start = int(self.customers.payee_start[self.victim])
        end = start + int(self.customers.payee_count[self.victim])
        accounts = self.actors.fraud_payees
        strangers = accounts[(accounts < start) | (accounts >= end)]
        return int(choose(self.rng, strangers if len(strangers) else accounts))

    def emit(self, name: str, **fields: object) -> None:
        """Add one transaction of this scenario (label fields filled in)."""
        first, revision = self.delays.fraud(name, self.rng)
        self.rows.add(customer=self.victim, fraud_type=FRAUD_CODE[name], scenario=self.scenario, label_delay_us=first,
                      revision_delay_us=revision, u=self.u3(), **fields)  # type: ignore[arg-type]

    def legit_delay(self) -> int:
        return int(self.delays.first(self.rng.random(1))[0])

    def price(self, category: str, city: int, low: float, high: float) -> float:
        """What the victim would pay in `category` in `city` (the legitimate price model), times a shift drawn
        from [low, high): the fraud moves the amount, it does not invent a scale of its own."""
        return self._amount(CATEGORY[category], city) * float(self.rng.uniform(low, high))

    def transfer(self, low: float, high: float) -> float:
        """A P2P transfer of the victim's usual size, times a shift drawn from [low, high)."""
        return self._amount(-1, self.home) * float(self.rng.uniform(low, high))

    def _amount(self, category: int, city: int) -> float:
        u1, u2 = self.rng.random(2).tolist()
        return prices.rupees_one(category, u1, u2, float(self.customers.amount_scale[self.victim]),
                                 float(CITY_COST[city]))

    def online_mode(self) -> int:
        """A payment mode for an online purchase, from the victim's own online mix (as its own purchases pick)."""
        return int(self.customers.pick_mode(np.array([self.victim]), np.array([True]), self.rng.random(1))[0])

    def category(self) -> str:
        """A merchant category from the victim's own category mix."""
        return CATEGORY_NAMES[int(self.customers.pick_category(np.array([self.victim]), self.rng.random(1))[0])]

    def night(self, after_us: int) -> int:
        """A moment between 01:00 and 05:00 IST on the first night after `after_us`."""
        local = after_us + IST_OFFSET_US
        midnight = local - local % DAY_US + DAY_US
        return int(midnight - IST_OFFSET_US + HOUR_US + self.rng.random() * 4 * HOUR_US)
