"""The customer population as columns: `Customers`, row k customer k, and what the stream asks of it.

Customer k depends only on (seed, k) and the merchant population (`producers.customer_draws` draws it):
persona, age, gender, occupation, income, home city, devices, payment instruments (UPI VPA, cards with BIN
and masked PAN, wallet, net banking, BNPL), spending profile (monthly rate, category mix, amount scale),
travel propensity, favourite merchants, and the P2P payees they send money to. The stream reads these columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers.events import CARD_NETWORKS, CREDIT_CARD, DEBIT_CARD, PAYMENT_MODES, UPI
from synfinance.producers.world.calendar import HOURLY_PROFILES, OCCUPATIONS
from synfinance.producers.world.categories import CATEGORIES
from synfinance.producers.world.geography import CITIES
from synfinance.producers.world.payment_rails import P2P_SHARE_OF_UPI, PAYMENT_MODE_SHARES
from synfinance.producers.world.personas import PERSONAS

GENDERS = ("FEMALE", "MALE", "OTHER")
CREDIT_BANDS = ("<600", "600-699", "700-749", "750-799", "800+")
N_MODES = len(PAYMENT_MODES)
N_CATEGORIES = len(CATEGORIES)
P2P_PROBABILITY = PAYMENT_MODE_SHARES["upi"] * P2P_SHARE_OF_UPI  # of all transactions, for UPI holders
# Device table rows per customer: the registered phones (1-3, listed in the Customer record), then two the
# bank has not seen: the phone the customer switches to some day (NEW_PHONE), and a borrowed or new
# browser device used now and then (OTHER_DEVICE). Fraudsters' phones are just as unknown to the bank.
EXTRA_DEVICES = 2
MAX_CUSTOMERS = 2_000_000  # arrival keys pack the customer ordinal into 21 bits
DEVICE_SLOTS = 8  # device ordinal = k * DEVICE_SLOTS + slot (see producers.ids.device_ids)
PHONE_LIFETIME_DAYS = 365.0  # mean time to a new phone, a reinstall or a new SIM (a new device id to the bank)
PERSON_SLOTS = 16  # person ordinal = k * PERSON_SLOTS + slot: payees in slots 0..14, the customer in 15


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
