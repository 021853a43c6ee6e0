"""The fraudsters' side of the world: their devices and payee accounts, colluding merchants, mule rings.

Built from the whole population, so every shard sees the same actors. A merchant colludes, and a
customer is a mule, by its own ROLE generator's first draw: membership does not depend on how many
other entities exist. Mules are grouped into rings of `RING_SIZE` in ordinal order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producers.customers import Customers
from producers.events import UPI
from producers.merchants import Merchants
from producers.seeding import Kind, Purpose, entity_rng
from producers.world.catalogue import UPI_HANDLES
from producers.world.geography import CITIES
from producers.world.personas import FIRST_NAMES_MALE, SURNAMES

COLLUDER_SHARE = 0.01
MULE_SHARE = 0.003
RING_SIZE = 3
FRAUD_DEVICES = 400
FRAUD_PAYEES = 600


@dataclass(frozen=True)
class FraudActors:
    device_ids: list[str]          # appended after the customers' devices in the device vocabulary
    device_ips: list[str]
    payee_vpas: list[str]          # fraudsters' accounts, then the mules' VPAs (payee vocabulary tail)
    colluders: npt.NDArray[np.int64]
    rings: list[npt.NDArray[np.int64]]  # mule customer ordinals per ring
    mule_payee: dict[int, int]     # mule customer ordinal -> index in payee_vpas
    shop_cities: npt.NDArray[np.bool_]  # city code -> has at least one offline merchant

    @classmethod
    def build(cls, seed: int, customers: Customers, merchants: Merchants) -> FraudActors:
        rng = entity_rng(seed, Kind.WORLD, 0, Purpose.FRAUD)
        u = rng.random((max(FRAUD_DEVICES, FRAUD_PAYEES), 6))
        device_ids = [f"DX{i:07d}" for i in range(FRAUD_DEVICES)]
        device_ips = [f"10.{int(a * 256)}.{int(b * 256)}.{1 + int(c * 254)}" for a, b, c, *_ in u[:FRAUD_DEVICES]]
        handles = [h for h, _ in UPI_HANDLES]
        regions = list(SURNAMES)
        payees = []
        for i, (a, b, c, d, *_) in enumerate(u[:FRAUD_PAYEES]):
            region = regions[int(a * len(regions))]
            first = FIRST_NAMES_MALE[region][int(b * len(FIRST_NAMES_MALE[region]))].lower()
            last = SURNAMES[region][int(c * len(SURNAMES[region]))].lower()
            payees.append(f"{first}{last}{100 + i}{handles[int(d * len(handles))]}")
        # colluders run stolen card numbers through their online checkout (card-not-present)
        colluders = np.array([j for j in range(len(merchants)) if merchants.is_online[j]
                              and entity_rng(seed, Kind.MERCHANT, j, Purpose.ROLE).random() < COLLUDER_SHARE * 3],
                             dtype=np.int64)
        if not len(colluders):
            online = np.flatnonzero(merchants.is_online)
            colluders = online[:1] if len(online) else np.array([0], dtype=np.int64)
        mules = [k for k in range(len(customers)) if customers.holds[k, UPI]
                 and entity_rng(seed, Kind.CUSTOMER, k, Purpose.ROLE).random() < MULE_SHARE]
        rings = [np.array(mules[i:i + RING_SIZE], dtype=np.int64) for i in range(0, len(mules), RING_SIZE)]
        rings = [r for r in rings if len(r)]
        mule_payee = {}
        for k in mules:
            mule_payee[k] = len(payees)
            payees.append(str(customers.instrument_vpa[k * 6 + UPI]))
        shop_cities = np.zeros(len(CITIES), dtype=bool)
        shop_cities[merchants.city[~merchants.is_online]] = True
        return cls(device_ids, device_ips, payees, colluders, rings, mule_payee, shop_cities)
