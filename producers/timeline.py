"""Simulated time: blocks of event time and the arrival intensity of every occupation and region.

The stream is generated block by block (`BLOCK_DAYS` of event time each). Within a block, a customer's
arrivals follow a non-homogeneous Poisson process whose hourly intensity is

    monthly rate / 30.4375  x  day multiplier(day, region)  x  24 x hourly profile(occupation, hour)

evaluated on Indian Standard Time (festival, weekday and salary-day multipliers from
`producers.world.calendar`). `BlockCurves` precomputes, for one block, the cumulative hourly curve of
every (occupation, region) pair so that arrival times are drawn by inverse CDF for all customers at once.

>>> curves = BlockCurves.for_block(start_us=parse_start("2025-10-01"), block=0)
>>> curves.hours
168
>>> round(float(curves.day_equivalents[0, 0]), 3) > 7.0   # Diwali season lifts the block above 7 days
True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, HOUR_US, IST_OFFSET_US
from synfinance.producers.world.calendar import HOURLY_PROFILES, OCCUPATIONS, day_multiplier
from synfinance.producers.world.geography import REGIONS

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
BLOCK_DAYS = 7
BLOCK_US = BLOCK_DAYS * DAY_US
DAYS_PER_MONTH = 30.4375
DEFAULT_START = "2025-10-01T00:00:00+05:30"


def parse_start(text: str) -> int:
    """An ISO date or datetime (naive = IST) as UTC epoch microseconds.

    >>> parse_start("2025-10-01") == parse_start("2025-09-30T18:30:00Z")
    True
    """
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start {text!r} is not an ISO date or datetime (e.g. 2025-10-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return int(moment.timestamp() * 1_000_000)


def ist_days(times_us: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    """The IST calendar day of each UTC-microsecond instant."""
    return ((times_us + IST_OFFSET_US) // DAY_US).astype("datetime64[D]")


def ist_hour(times_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The IST hour of day (0-23) of each instant."""
    return ((times_us + IST_OFFSET_US) // HOUR_US) % 24


def customer_pairs(occupation: npt.NDArray[np.int64], region: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each customer's (occupation, region) pair as one index, the row of the curves it follows."""
    return occupation * len(REGIONS) + region


def daily_rates(monthly_rate: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Mean transactions a day from mean transactions a month."""
    return monthly_rate / DAYS_PER_MONTH


@dataclass(frozen=True)
class BlockCurves:
    """Arrival curves of one block for every (occupation, region) pair."""

    start_us: int
    hours: int
    # (occupations, regions): expected arrivals of a 1-txn-per-day customer in this block
    day_equivalents: npt.NDArray[np.float64]
    # flattened cumulative curves, pair g occupying [g, g + 1): searchsorted(g + u) - g * hours = hour
    cumulative: npt.NDArray[np.float64]

    @classmethod
    def for_block(cls, start_us: int, block: int) -> BlockCurves:
        block_start = start_us + block * BLOCK_US
        hours = BLOCK_US // HOUR_US
        instants = block_start + np.arange(hours, dtype=np.int64) * HOUR_US
        days, hour_of_day = ist_days(instants), ist_hour(instants)
        per_region = np.stack([day_multiplier(days, region) for region in REGIONS])  # (R, H)
        per_occupation = np.stack([HOURLY_PROFILES[o][hour_of_day] for o in OCCUPATIONS])  # (O, H)
        intensity = per_occupation[:, None, :] * per_region[None, :, :]  # (O, R, H) per-day units
        totals = intensity.sum(axis=2)
        cumulative = np.cumsum(intensity, axis=2) / totals[:, :, None]
        cumulative[:, :, -1] = 1.0
        groups = np.arange(len(OCCUPATIONS) * len(REGIONS), dtype=np.float64)
        flat = (cumulative.reshape(len(groups), hours) + groups[:, None]).ravel()
        return cls(block_start, hours, totals, flat)

    def expected(self, daily_rate: npt.NDArray[np.float64], group: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Expected transactions in this block of customers with these mean daily rates (`daily_rate`) and
        pairs (`group`): the one formula the arrivals draw from and the scenario engine sizes fraud by."""
        occupations, regions = divmod(group, len(REGIONS))
        return daily_rate * self.day_equivalents[occupations, regions]

    def arrival_times(self, group: npt.NDArray[np.int64], u_hour: npt.NDArray[np.float64],
                      u_offset: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Event times (UTC µs) for events of pair `group` (occupation * len(REGIONS) + region)."""
        position = np.searchsorted(self.cumulative, group + u_hour, side="right")
        hour = np.minimum(position - group * self.hours, self.hours - 1)
        return self.start_us + hour * HOUR_US + (u_offset * HOUR_US).astype(np.int64)
