"""Distance on the Earth: the one radius and the haversine formula, for arrays (the generator) and for one
pair at a time (the processor's per-event features, where numpy's call overhead would dominate).

Haversine formula (R. W. Sinnott, "Virtues of the Haversine", Sky & Telescope 68(2), 1984) on a sphere of
the IUGG mean Earth radius.

>>> round(float(haversine_km(19.0760, 72.8777, 28.6139, 77.2090))), round(haversine_km_one(19.0760, 72.8777,
... 28.6139, 77.2090))
(1148, 1148)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius R1


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees; broadcasts like numpy."""
    p1, l1, p2, l2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


def haversine_km_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """`haversine_km` for one pair of points, in plain floats."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
