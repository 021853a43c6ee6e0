"""The fraudsters' side of the world: their devices and payee accounts, colluding merchants, mule rings.

Built from the whole population, so every shard sees the same actors. A merchant colludes, and a
customer is a mule, by its own ROLE generator's first draw: membership does not depend on how many
other entities exist. Mules are grouped into rings of `RING_SIZE` in ordinal order. Payee indices: the
customers' payees (`Customers.payee_vpas`), then every customer's own VPA (`mule_vpas`), then every
merchant's VPA (a fraudster's shop account behind a swapped QR code is one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.producers import ids
from synfinance.producers.customers import DEVICE_SLOTS, MAX_CUSTOMERS, Customers
from synfinance.producers.events import PAYMENT_MODES, UPI
from synfinance.producers.merchants import Merchants
from synfinance.producers.seeding import Kind, Purpose, entity_rng
from synfinance.producers.world.geography import CITIES

COLLUDER_SHARE = 0.01
FRAUD_SHOP_SHARE = 0.03  # of offline local shops: a fraudster's business account, whose QR codes get swapped in
MULE_SHARE = 0.003
RING_SIZE = 3
FRAUD_DEVICES = 1_500  # phones churn: one is binned after a few victims
FRAUD_PAYEES = 3_000  # accounts churn too: banks freeze them within days
# fraudsters' phones are numbered after every customer's device slots (producers.ids scrambles ordinals)
FRAUD_DEVICE_ORDINAL = MAX_CUSTOMERS * DEVICE_SLOTS


@dataclass(frozen=True)
class FraudActors:
    device_ids: list[str]          # appended after the customers' devices in the device vocabulary
    device_ips: list[str]
    fraud_payees: npt.NDArray[np.int64]  # fraudsters' accounts: indices into the customers' payee vocabulary
    colluders: npt.NDArray[np.int64]
    fraud_shops: npt.NDArray[np.int64]  # merchants whose VPA a swapped QR code pays
    rings: list[npt.NDArray[np.int64]]  # mule customer ordinals per ring
    mule_vpas: list[str | None]    # every customer's own VPA (payee vocabulary tail): a mule is paid there
    shop_cities: npt.NDArray[np.bool_]  # city code -> has at least one offline merchant

    @classmethod
    def build(cls, seed: int, customers: Customers, merchants: Merchants) -> FraudActors:
        """Fraudsters own no special kind of identifier: their phones are spelled like anyone's (and their IPs
        drawn alike), their accounts are people someone already pays (a payee of some customer), mules are
        customers, colluders are merchants."""
        rng = entity_rng(seed, Kind.WORLD, 0, Purpose.FRAUD)
        u = rng.random((FRAUD_DEVICES, 3))
        device_ids = ids.device_ids(customers.sid, FRAUD_DEVICE_ORDINAL + np.arange(FRAUD_DEVICES))
        device_ips = [ids.ip_address(a, b, c) for a, b, c in u.tolist()]
        fraud_payees = np.sort(rng.choice(len(customers.payee_vpas), min(FRAUD_PAYEES, len(customers.payee_vpas)),
                                          replace=False)).astype(np.int64)
        # colluders run stolen card numbers through their online checkout (card-not-present)
        colluders = np.array([j for j in range(len(merchants)) if merchants.is_online[j]
                              and entity_rng(seed, Kind.MERCHANT, j, Purpose.ROLE).random() < COLLUDER_SHARE * 3],
                             dtype=np.int64)
        if not len(colluders):
            online = np.flatnonzero(merchants.is_online)
            colluders = online[:1] if len(online) else np.array([0], dtype=np.int64)
        # shops onboarded on stolen or mule KYC: ordinary local merchants to look at, on either kind of VPA
        fraud_shops = np.array([j for j in range(len(merchants)) if not merchants.is_online[j]
                                and not merchants.is_chain[j]
                                and entity_rng(seed, Kind.MERCHANT, j, Purpose.ROLE).random() < FRAUD_SHOP_SHARE],
                               dtype=np.int64)
        mules = [k for k in range(len(customers)) if customers.holds[k, UPI]
                 and entity_rng(seed, Kind.CUSTOMER, k, Purpose.ROLE).random() < MULE_SHARE]
        rings = [np.array(mules[i:i + RING_SIZE], dtype=np.int64) for i in range(0, len(mules), RING_SIZE)]
        rings = [r for r in rings if len(r)]
        own_vpas = customers.instrument_vpa[UPI::len(PAYMENT_MODES)]
        shop_cities = np.zeros(len(CITIES), dtype=bool)
        shop_cities[merchants.city[~merchants.is_online]] = True
        return cls(device_ids, device_ips, fraud_payees, colluders, fraud_shops, rings, own_vpas, shop_cities)
