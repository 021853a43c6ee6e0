"""The one canonical city table: name, state, region, tier, coordinates and digital-payment weight.

Every module that needs a city's state, region, tier or coordinates reads them from here, by city code
(the index in ``CITIES``), so a transaction's city, state, region, tier and coordinates always agree.

Sources and definitions
- Coordinates: city centre, WGS84 degrees, 4 decimals.
- Tier: the Government of India HRA city classification X / Y / Z (Department of Expenditure; revised on
  Census 2011 figures in 2015 and kept for the 7th Pay Commission HRA orders): X (urban agglomeration of
  5 million+) = tier 1, Y (0.5-5 million) = tier 2, Z (the rest) = tier 3. Under it Bhopal, Patna,
  Visakhapatnam, Vadodara and Coimbatore are Y, i.e. tier 2.
- Population: Census of India 2011 urban-agglomeration population (the city itself where it has no UA),
  in thousands, rounded.
- population_weight (share of digital-payment activity) = pop * TIER_DIGITAL_BOOST[tier] *
  STATE_CALIBRATION[state], normalised to sum 1. The tier-1 boost of 1.5 stands for the metros' higher
  per-head digital-payment use (a modelling choice, not a published figure). The state factors are fitted
  (bench/calibrate.py) so that each state's share of legitimate payments comes out at
  STATE_PAYMENT_SHARES; a state's cities keep their relative sizes.
- STATE_TICKET (fitted likewise) scales a state's prices with the tier's COST_OF_LIVING so that the states'
  shares of payment *value* come out at NPCI's.
- Region is a function of the state (``STATE_REGION``), never set per city.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from synfinance.common.geo import haversine_km

_Array = TypeVar("_Array", bound=np.ndarray[Any, Any])

REGIONS: tuple[str, ...] = ("North", "South", "East", "West", "Central", "Northeast")

STATE_REGION: dict[str, str] = {
    "Delhi": "North", "Haryana": "North", "Punjab": "North", "Himachal Pradesh": "North",
    "Jammu and Kashmir": "North", "Chandigarh": "North", "Rajasthan": "North", "Uttar Pradesh": "North",
    "Uttarakhand": "North",
    "Madhya Pradesh": "Central", "Chhattisgarh": "Central",
    "Maharashtra": "West", "Gujarat": "West", "Goa": "West",
    "Karnataka": "South", "Kerala": "South", "Tamil Nadu": "South", "Andhra Pradesh": "South",
    "Telangana": "South", "Puducherry": "South",
    "West Bengal": "East", "Odisha": "East", "Bihar": "East", "Jharkhand": "East",
    "Assam": "Northeast", "Meghalaya": "Northeast", "Manipur": "Northeast", "Mizoram": "Northeast",
    "Nagaland": "Northeast", "Arunachal Pradesh": "Northeast", "Sikkim": "Northeast", "Tripura": "Northeast",
}

TIER_DIGITAL_BOOST: dict[int, float] = {1: 1.5, 2: 1.0, 3: 1.0}

# Tier -> multiplier on transaction amounts (cost of living).
COST_OF_LIVING: dict[int, float] = {1: 1.3, 2: 1.0, 3: 0.8}

# UPI by state, as NPCI published it for July 2025 (volume %, value %) of all UPI payments; a large share
# of payments is "unclassified" (no payer location), so only the states' ratios are comparable
# (Outlook Business, 2025-08-29, "UPI transactions by state"; the same figures in SBI Research's August
# 2025 report). The seven states NPCI's release names.
NPCI_STATE_UPI_JULY_2025: dict[str, tuple[float, float]] = {
    "Maharashtra": (9.79, 9.19), "Karnataka": (5.48, 5.76), "Uttar Pradesh": (5.30, 5.26),
    "Telangana": (4.07, 5.05), "Tamil Nadu": (4.00, 4.67), "Andhra Pradesh": (2.75, 3.73), "Delhi": (2.40, 2.35),
}
# Every state's share of PhonePe's transaction count in 2024 (PhonePe Pulse, github.com/PhonePe/pulse,
# data/map/transaction/hover/country/india/2024, CDLA-Permissive-2.0): the only public breakdown of all
# states. One app's footprint (PhonePe carries ~47% of UPI; it is weaker in Tamil Nadu and Kerala), so it
# gives the other states' shares and the seven NPCI states' combined share, not theirs one by one.
PHONEPE_STATE_COUNT_SHARE_2024: dict[str, float] = {
    "Maharashtra": 0.12911, "Karnataka": 0.12643, "Telangana": 0.10100, "Uttar Pradesh": 0.08813,
    "Andhra Pradesh": 0.08130, "Rajasthan": 0.07449, "Madhya Pradesh": 0.05986, "Bihar": 0.05342,
    "West Bengal": 0.04158, "Odisha": 0.04003, "Delhi": 0.03206, "Haryana": 0.03000, "Tamil Nadu": 0.02965,
    "Gujarat": 0.02902, "Jharkhand": 0.02050, "Chhattisgarh": 0.01735, "Assam": 0.01129, "Kerala": 0.00830,
    "Punjab": 0.00706, "Uttarakhand": 0.00617, "Jammu and Kashmir": 0.00432, "Himachal Pradesh": 0.00197,
    "Goa": 0.00156, "Arunachal Pradesh": 0.00088, "Chandigarh": 0.00066, "Puducherry": 0.00061,
    "Meghalaya": 0.00046, "Sikkim": 0.00030, "Nagaland": 0.00025, "Manipur": 0.00021, "Mizoram": 0.00009,
}
NPCI_STATES = tuple(NPCI_STATE_UPI_JULY_2025)
NPCI_STATES_COMBINED_SHARE = sum(PHONEPE_STATE_COUNT_SHARE_2024[s] for s in NPCI_STATES)  # 0.588


def _state_payment_shares() -> dict[str, float]:
    """Each state's share of payments: the seven NPCI states split their combined share as NPCI's volumes
    do, the others as PhonePe's counts (states with no city in the table dropped, the rest renormalised)."""
    npci_total = sum(volume for volume, _ in NPCI_STATE_UPI_JULY_2025.values())
    shares = {state: (NPCI_STATE_UPI_JULY_2025[state][0] / npci_total * NPCI_STATES_COMBINED_SHARE
                      if state in NPCI_STATE_UPI_JULY_2025 else share)
              for state, share in PHONEPE_STATE_COUNT_SHARE_2024.items()}
    total = sum(shares.values())
    return {state: share / total for state, share in shares.items()}


STATE_PAYMENT_SHARES: dict[str, float] = _state_payment_shares()

# Fitted by bench/calibrate.py (seeds 42 and 7) to STATE_PAYMENT_SHARES and to NPCI's value shares.
STATE_CALIBRATION: dict[str, float] = {
    "Maharashtra": 1, "Karnataka": 1.433, "Telangana": 1.234, "Uttar Pradesh": 1.745, "Andhra Pradesh": 2.982,
    "Rajasthan": 2.959, "Madhya Pradesh": 2.119, "Bihar": 4.702, "West Bengal": 0.402, "Odisha": 5.128,
    "Delhi": 0.3911, "Haryana": 3.017, "Tamil Nadu": 0.8338, "Gujarat": 0.3649, "Jharkhand": 1.163,
    "Chhattisgarh": 1.36, "Assam": 2.358, "Kerala": 0.1808, "Punjab": 0.4757, "Uttarakhand": 1.231,
    "Jammu and Kashmir": 0.4938, "Himachal Pradesh": 2.541, "Goa": 3.035, "Arunachal Pradesh": 3.253,
    "Chandigarh": 0.1427, "Puducherry": 0.206, "Meghalaya": 0.2874, "Sikkim": 0.6655, "Nagaland": 0.5602,
    "Manipur": 0.1125, "Mizoram": 0.06814,
}
STATE_TICKET: dict[str, float] = {state: 1.0 for state in PHONEPE_STATE_COUNT_SHARE_2024} | {
    "Maharashtra": 0.782, "Karnataka": 0.893, "Telangana": 1.14, "Uttar Pradesh": 1.06, "Andhra Pradesh": 1.552,
    "Delhi": 0.872, "Tamil Nadu": 1.156,
}


NEARBY_RADIUS_KM = 400.0


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    region: str
    tier: int
    lat: float
    lon: float
    population_weight: float


# (name, state, tier, lat, lon, Census 2011 population in thousands).
# APPEND-ONLY: the index is the city code, written into every event. Never reorder or delete a row.
_ROWS: tuple[tuple[str, str, int, float, float, int], ...] = (
    ("Mumbai", "Maharashtra", 1, 19.0760, 72.8777, 18394),
    ("Delhi", "Delhi", 1, 28.6139, 77.2090, 16350),
    ("Bengaluru", "Karnataka", 1, 12.9716, 77.5946, 8520),
    ("Hyderabad", "Telangana", 1, 17.3850, 78.4867, 7749),
    ("Chennai", "Tamil Nadu", 1, 13.0827, 80.2707, 8654),
    ("Kolkata", "West Bengal", 1, 22.5726, 88.3639, 14113),
    ("Pune", "Maharashtra", 1, 18.5204, 73.8567, 5057),
    ("Ahmedabad", "Gujarat", 1, 23.0225, 72.5714, 6357),
    ("Jaipur", "Rajasthan", 2, 26.9124, 75.7873, 3046),
    ("Lucknow", "Uttar Pradesh", 2, 26.8467, 80.9462, 2902),
    ("Surat", "Gujarat", 2, 21.1702, 72.8311, 4591),
    ("Chandigarh", "Chandigarh", 2, 30.7333, 76.7794, 1026),
    ("Indore", "Madhya Pradesh", 2, 22.7196, 75.8577, 2170),
    ("Kochi", "Kerala", 2, 9.9312, 76.2673, 2120),
    ("Nagpur", "Maharashtra", 2, 21.1458, 79.0882, 2498),
    ("Bhopal", "Madhya Pradesh", 2, 23.2599, 77.4126, 1886),
    ("Visakhapatnam", "Andhra Pradesh", 2, 17.6868, 83.2185, 1728),
    ("Patna", "Bihar", 2, 25.5941, 85.1376, 2049),
    ("Vadodara", "Gujarat", 2, 22.3072, 73.1812, 1822),
    ("Coimbatore", "Tamil Nadu", 2, 11.0168, 76.9558, 2137),
    ("Kanpur", "Uttar Pradesh", 2, 26.4499, 80.3319, 2920),
    ("Gurugram", "Haryana", 2, 28.4595, 77.0266, 877),
    ("Ludhiana", "Punjab", 2, 30.9010, 75.8573, 1614),
    ("Agra", "Uttar Pradesh", 2, 27.1767, 78.0081, 1760),
    ("Nashik", "Maharashtra", 2, 19.9975, 73.7898, 1563),
    ("Rajkot", "Gujarat", 2, 22.3039, 70.8022, 1391),
    ("Varanasi", "Uttar Pradesh", 2, 25.3176, 82.9739, 1435),
    ("Madurai", "Tamil Nadu", 2, 9.9252, 78.1198, 1466),
    ("Thiruvananthapuram", "Kerala", 2, 8.5241, 76.9366, 1687),
    ("Kozhikode", "Kerala", 2, 11.2588, 75.7804, 2031),
    ("Thrissur", "Kerala", 2, 10.5276, 76.2144, 1855),
    ("Guwahati", "Assam", 2, 26.1445, 91.7362, 969),
    ("Bhubaneswar", "Odisha", 2, 20.2961, 85.8245, 886),
    ("Ranchi", "Jharkhand", 2, 23.3441, 85.3096, 1127),
    ("Raipur", "Chhattisgarh", 2, 21.2514, 81.6296, 1123),
    ("Jodhpur", "Rajasthan", 2, 26.2389, 73.0243, 1138),
    ("Kota", "Rajasthan", 2, 25.2138, 75.8648, 1002),
    ("Amritsar", "Punjab", 2, 31.6340, 74.8723, 1184),
    ("Dehradun", "Uttarakhand", 2, 30.3165, 78.0322, 714),
    ("Mysuru", "Karnataka", 2, 12.2958, 76.6394, 991),
    ("Mangaluru", "Karnataka", 2, 12.9141, 74.8560, 620),
    ("Hubballi", "Karnataka", 2, 15.3647, 75.1240, 944),
    ("Vijayawada", "Andhra Pradesh", 2, 16.5062, 80.6480, 1477),
    ("Tiruchirappalli", "Tamil Nadu", 2, 10.7905, 78.7047, 1022),
    ("Salem", "Tamil Nadu", 2, 11.6643, 78.1460, 919),
    ("Jabalpur", "Madhya Pradesh", 2, 23.1815, 79.9864, 1268),
    ("Gwalior", "Madhya Pradesh", 2, 26.2183, 78.1828, 1102),
    ("Prayagraj", "Uttar Pradesh", 2, 25.4358, 81.8463, 1217),
    ("Meerut", "Uttar Pradesh", 2, 28.9845, 77.7064, 1421),
    ("Srinagar", "Jammu and Kashmir", 2, 34.0837, 74.7973, 1273),
    ("Jammu", "Jammu and Kashmir", 2, 32.7266, 74.8570, 657),
    ("Jamshedpur", "Jharkhand", 2, 22.8046, 86.2029, 1339),
    ("Dhanbad", "Jharkhand", 2, 23.7957, 86.4304, 1196),
    ("Cuttack", "Odisha", 2, 20.4625, 85.8830, 667),
    ("Asansol", "West Bengal", 2, 23.6739, 86.9524, 1243),
    ("Siliguri", "West Bengal", 2, 26.7271, 88.3953, 701),
    ("Puducherry", "Puducherry", 2, 11.9416, 79.8083, 657),
    ("Warangal", "Telangana", 2, 17.9689, 79.5941, 760),
    ("Bhilai", "Chhattisgarh", 2, 21.1938, 81.3509, 1064),
    ("Faridabad", "Haryana", 2, 28.4089, 77.3178, 1414),
    ("Shimla", "Himachal Pradesh", 3, 31.1048, 77.1734, 172),
    ("Panaji", "Goa", 3, 15.4909, 73.8278, 114),
    ("Udaipur", "Rajasthan", 3, 24.5854, 73.7125, 475),
    ("Gangtok", "Sikkim", 3, 27.3389, 88.6065, 100),
    ("Shillong", "Meghalaya", 3, 25.5788, 91.8933, 355),
    ("Imphal", "Manipur", 3, 24.8170, 93.9368, 414),
    ("Aizawl", "Mizoram", 3, 23.7271, 92.7176, 293),
    ("Kohima", "Nagaland", 3, 25.6751, 94.1086, 99),
    ("Itanagar", "Arunachal Pradesh", 3, 27.0844, 93.6053, 60),
    ("Tirupati", "Andhra Pradesh", 3, 13.6288, 79.4192, 460),
    ("Haridwar", "Uttarakhand", 3, 29.9457, 78.1642, 311),
    ("Bilaspur", "Chhattisgarh", 3, 22.0797, 82.1409, 453),
    ("Gaya", "Bihar", 3, 24.7914, 85.0002, 471),
    ("Puri", "Odisha", 3, 19.8135, 85.8312, 201),
    ("Udupi", "Karnataka", 3, 13.3409, 74.7421, 165),
)


def _build_cities() -> tuple[City, ...]:
    raw = [pop * TIER_DIGITAL_BOOST[tier] * STATE_CALIBRATION[state] for _, state, tier, _, _, pop in _ROWS]
    total = sum(raw)
    return tuple(
        City(name, state, STATE_REGION[state], tier, lat, lon, w / total)
        for (name, state, tier, lat, lon, _), w in zip(_ROWS, raw, strict=True)
    )


CITIES: tuple[City, ...] = _build_cities()


def _frozen(a: _Array) -> _Array:
    a.flags.writeable = False
    return a


CITY_NAMES: tuple[str, ...] = tuple(c.name for c in CITIES)
CITY_STATES: tuple[str, ...] = tuple(c.state for c in CITIES)
CITY_REGIONS: tuple[str, ...] = tuple(c.region for c in CITIES)
CITY_TIERS: npt.NDArray[np.int8] = _frozen(np.array([c.tier for c in CITIES], dtype=np.int8))
CITY_LAT: npt.NDArray[np.float64] = _frozen(np.array([c.lat for c in CITIES], dtype=np.float64))
CITY_LON: npt.NDArray[np.float64] = _frozen(np.array([c.lon for c in CITIES], dtype=np.float64))
# a price's multiplier in each city: the tier's cost of living times the state's fitted ticket factor
CITY_COST: npt.NDArray[np.float64] = _frozen(np.array([COST_OF_LIVING[c.tier] * STATE_TICKET[c.state] for c in CITIES]))
_w = np.array([c.population_weight for c in CITIES], dtype=np.float64)
CITY_WEIGHTS: npt.NDArray[np.float64] = _frozen(_w / _w.sum())

_INDEX: dict[str, int] = {name: i for i, name in enumerate(CITY_NAMES)}


def city_index(name: str) -> int:
    """The city code of ``name`` (exact spelling as in ``CITIES``).

    >>> city_index("Mumbai"), CITIES[city_index("Kochi")].state
    (0, 'Kerala')
    """
    try:
        return _INDEX[name]
    except KeyError:
        raise KeyError(f"unknown city {name!r}; see producers.world.geography.CITY_NAMES") from None


DISTANCE_KM: npt.NDArray[np.float64] = _frozen(
    haversine_km(CITY_LAT[:, None], CITY_LON[:, None], CITY_LAT[None, :], CITY_LON[None, :])
)


def _nearby() -> tuple[tuple[int, ...], ...]:
    out = []
    for i in range(len(CITIES)):
        # Stable sort on distance: ties keep the lower city code first, so the result is deterministic.
        order = np.argsort(DISTANCE_KM[i], kind="stable")
        out.append(tuple(int(j) for j in order if j != i and DISTANCE_KM[i, j] <= NEARBY_RADIUS_KM))
    return tuple(out)


# For each city code: the other cities within NEARBY_RADIUS_KM, nearest first (for "nearby city" trips).
NEARBY: tuple[tuple[int, ...], ...] = _nearby()
