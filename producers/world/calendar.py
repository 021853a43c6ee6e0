"""Seasonality on real dates: festival, weekday and salary-day multipliers, and hour-of-day profiles.

Everything here is a table or a pure vectorised function of ``datetime64[D]`` days; there is no randomness.
Festival dates are the published ones for 2023-2030 (``FESTIVAL_DATES``) and computed by the almanac
rules (``producers.world.panchang``) for every other year from 1901 to 2199.
``day_multiplier(days, region)`` is the product of the festival, weekday and salary-day multipliers; the
hour-of-day profile of an occupation (``HOURLY_PROFILES``) spreads a day's transactions over its hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from synfinance.common.units import IST_OFFSET_US
from synfinance.producers.world import panchang
from synfinance.producers.world.geography import REGIONS

TABLE_YEARS: tuple[int, ...] = tuple(range(2023, 2031))  # the years of FESTIVAL_DATES
FIRST_YEAR, LAST_YEAR = panchang.FIRST_YEAR + 1, panchang.LAST_YEAR - 1  # a window may reach a neighbour year


@dataclass(frozen=True)
class Festival:
    """A festival: spending multiplier on the day, its window, and the regions where it is strong.

    Window shape (linear taper): on day offset ``d`` from the festival date the lift over 1.0 is
    ``(multiplier - 1) * (1 - |d| / (n + 1))`` with ``n = days_before`` before the day and ``days_after``
    after it, times FESTIVAL_COUNT_SHARE; so Diwali (2.5, 10 days before) ramps to 1.3 on Lakshmi Puja.
    ``regions`` empty means national. A regional festival applies in full inside its regions and at
    ``REGIONAL_SPILLOVER`` of its lift elsewhere (and when no region is given).
    """

    name: str
    multiplier: float
    days_before: int
    days_after: int
    regions: tuple[str, ...] = ()


REGIONAL_SPILLOVER = 0.3
# The multipliers below are festive *spending* multipliers (shared/notes/domain.md). The number of
# payments rises far less: NPCI's busiest day of October 2025, 18 October (Dhanteras, two days before
# Diwali), carried 754 million UPI payments, 1.13x October's daily mean, and October's daily mean was no
# higher than September's and November's beyond UPI's growth. So a day's count lift is this share of the
# spending lift (Diwali: 1 + 1.5 x 0.09 = 1.135x), which puts the stream's busiest October day near 1.13x
# (validate's "busiest day of the Diwali month" target).
FESTIVAL_COUNT_SHARE = 0.09

# Multipliers from the SynFinance domain notes (shared/notes/domain.md); windows are modelling choices:
# pre-festival shopping before Diwali, Eid al-Fitr (last week of Ramzan), Christmas and Raksha Bandhan;
# Onam's 10 days run Atham -> Thiruvonam; Navratri's nine nights follow Ghatasthapana.
FESTIVALS: tuple[Festival, ...] = (
    Festival("diwali", 2.5, 10, 2),
    Festival("durga_puja", 2.2, 5, 2, ("East", "Northeast")),
    Festival("eid_al_fitr", 2.0, 7, 1),
    Festival("onam", 1.9, 9, 1, ("South",)),  # Kerala-centred; modelled at region granularity
    Festival("holi", 1.8, 3, 0, ("North", "Central", "West")),
    Festival("eid_al_adha", 1.8, 3, 1),
    Festival("christmas", 1.7, 7, 1),
    Festival("pongal", 1.6, 2, 2, ("South",)),
    Festival("ganesh_chaturthi", 1.6, 3, 3, ("West", "South")),
    Festival("dussehra", 1.6, 1, 0),
    Festival("raksha_bandhan", 1.5, 5, 0, ("North", "Central", "West")),
    Festival("navratri", 1.4, 0, 8, ("West", "North", "Central")),
)

# Observance dates in India, one per year. Where the Government of India (DoPT) gazetted-holiday list
# names the festival (Holi, Id-ul-Fitr, Id-ul-Zuha, Dussehra, Diwali, Christmas) its date is used
# (2023-2026 lists); the others and later years are the widely published panchang dates, which we
# re-derived from the tithi / nakshatra / solar-ingress rules (Lahiri ayanamsa, New Delhi; Kolkata for
# Durga Puja, Kerala for Onam). Rules: Diwali = Ashwin amavasya at pradosh (Lakshmi Puja); Holi = day
# after Holika Dahan (Phalguna purnima); Raksha Bandhan = Shravana purnima; Ganesh Chaturthi =
# Bhadrapada shukla chaturthi at midday; Navratri = Ashwin shukla pratipada; Durga Puja = Maha Ashtami;
# Dussehra = Ashwin shukla dashami; Onam = Thiruvonam nakshatra in Chingam; Pongal = Thai 1 (Tamil Nadu
# government holiday). Eid dates after 2026 depend on moon sighting: India has kept one day after Saudi
# Arabia's Umm al-Qura date in 2023-2025, which these follow (crescent visibility checked per evening).
_DATES: dict[str, tuple[tuple[int, int], ...]] = {  # (month, day) for 2023, 2024, ..., 2030
    "diwali": ((11, 12), (11, 1), (10, 20), (11, 8), (10, 29), (10, 17), (11, 5), (10, 26)),
    "durga_puja": ((10, 22), (10, 11), (9, 30), (10, 19), (10, 7), (9, 26), (10, 14), (10, 4)),
    "eid_al_fitr": ((4, 22), (4, 11), (3, 31), (3, 21), (3, 10), (2, 27), (2, 15), (2, 5)),
    "onam": ((8, 29), (9, 15), (9, 5), (8, 26), (9, 12), (9, 1), (8, 22), (9, 9)),
    "holi": ((3, 8), (3, 25), (3, 14), (3, 4), (3, 22), (3, 11), (3, 1), (3, 20)),
    "eid_al_adha": ((6, 29), (6, 17), (6, 7), (5, 27), (5, 17), (5, 6), (4, 25), (4, 14)),
    "christmas": ((12, 25),) * 8,
    "pongal": ((1, 15), (1, 15), (1, 14), (1, 15), (1, 15), (1, 15), (1, 14), (1, 15)),
    "ganesh_chaturthi": ((9, 19), (9, 7), (8, 27), (9, 14), (9, 4), (8, 23), (9, 11), (9, 1)),
    "dussehra": ((10, 24), (10, 12), (10, 2), (10, 20), (10, 9), (9, 27), (10, 16), (10, 6)),
    "raksha_bandhan": ((8, 30), (8, 19), (8, 9), (8, 28), (8, 17), (8, 5), (8, 23), (8, 13)),
    "navratri": ((10, 15), (10, 3), (9, 22), (10, 11), (9, 30), (9, 19), (10, 8), (9, 28)),
}

FESTIVAL_DATES: dict[str, dict[int, dt.date]] = {
    name: {y: dt.date(y, m, d) for y, (m, d) in zip(TABLE_YEARS, md, strict=True)}
    for name, md in _DATES.items()
}

# Monday..Sunday, mean 1.0. Weekends lift shopping, dining and entertainment; the swing is kept small
# because NPCI's daily UPI volumes move only a few per cent across the week (modelling estimate).
WEEKDAY_MULTIPLIERS: npt.NDArray[np.float64] = np.array([0.97, 0.96, 0.97, 0.99, 1.02, 1.06, 1.03])
WEEKDAY_MULTIPLIERS.flags.writeable = False

# Salary credits land on the last working day or the 1st; bills, rent, SIPs and groceries follow in the
# first days of the month. NPCI's busiest day before the festive season, 2 August 2025 (a Saturday), carried
# 707 million UPI payments, 1.095x August's daily mean; these lifts with the weekday's give about that
# (validate's "busiest day of August" target). Not renormalised: they add ~0.7% to a month's mean.
SALARY_FIRST_DAYS: dict[int, float] = {1: 1.07, 2: 1.05, 3: 1.03}  # day of month -> multiplier
SALARY_LAST_DAYS: dict[int, float] = {1: 1.04, 2: 1.02}  # days to month end (1 = last day) -> multiplier

# the calendar in UTC microseconds, narrowed by IST's offset: every time inside falls on a covered IST day
CALENDAR_START_US = int(np.datetime64(f"{FIRST_YEAR}-01-01", "us").astype(np.int64)) + IST_OFFSET_US
CALENDAR_END_US = int(np.datetime64(f"{LAST_YEAR + 1}-01-01", "us").astype(np.int64)) - IST_OFFSET_US


def festival_days(name: str, year: int) -> tuple[dt.date, ...]:
    """The days a festival falls on in a year: the published date for 2023-2030, else the computed ones."""
    if year in TABLE_YEARS:
        return (FESTIVAL_DATES[name][year],)
    return panchang.festival_days(name, year)


@lru_cache(maxsize=32)
def _year_tables(year: int) -> dict[str | None, npt.NDArray[np.float64]]:
    """Each region's festival multiplier for every day of `year` (windows of the years either side too)."""
    first = np.datetime64(f"{year}-01-01", "D")
    n = int((np.datetime64(f"{year + 1}-01-01", "D") - first).astype(np.int64))
    tables: dict[str | None, npt.NDArray[np.float64]] = {r: np.ones(n) for r in (*REGIONS, None)}
    for f in FESTIVALS:
        for day in (d for y in (year - 1, year, year + 1) for d in festival_days(f.name, y)):
            centre = int((np.datetime64(day, "D") - first).astype(np.int64))
            for off in range(-f.days_before, f.days_after + 1):
                i = centre + off
                if not 0 <= i < n:
                    continue
                span = f.days_before if off < 0 else f.days_after
                lift = (f.multiplier - 1.0) * FESTIVAL_COUNT_SHARE * (1.0 - abs(off) / (span + 1))
                for region, table in tables.items():
                    strong = not f.regions or region in f.regions
                    value = 1.0 + lift * (1.0 if strong else REGIONAL_SPILLOVER)
                    table[i] = max(table[i], value)
    for table in tables.values():
        table.flags.writeable = False
    return tables


def _as_days(days: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    return np.asarray(days, dtype="datetime64[D]")


def festival_multiplier(days: npt.ArrayLike, region: str | None = None) -> npt.NDArray[np.float64]:
    """Festival multiplier per day: the max over overlapping festival windows, 1.0 on ordinary days.

    ``region`` is one of ``REGIONS``; ``None`` (unknown) applies regional festivals at spillover strength.
    Raises ValueError for days outside FIRST_YEAR-LAST_YEAR.

    >>> festival_multiplier(np.array(["2024-11-01", "2024-06-04"], dtype="datetime64[D]")).tolist()
    [1.135, 1.0]
    """
    if region is not None and region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS} or None")
    d = _as_days(days)
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    out = np.empty(d.shape, dtype=np.float64)
    if not d.size:
        return out
    if years.min() < FIRST_YEAR or years.max() > LAST_YEAR:
        bad = d.flat[int(np.argmax((years < FIRST_YEAR) | (years > LAST_YEAR)))]
        raise ValueError(f"the festival calendar covers {FIRST_YEAR}-{LAST_YEAR}; got {bad}")
    for year in np.unique(years).tolist():
        inside = years == year
        first = np.datetime64(f"{year}-01-01", "D")
        out[inside] = _year_tables(year)[region][(d[inside] - first).astype(np.int64)]
    return out


def weekday_multiplier(days: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``WEEKDAY_MULTIPLIERS`` looked up per day (1970-01-01, day 0 of datetime64, was a Thursday)."""
    weekday = (_as_days(days).astype(np.int64) + 3) % 7  # Monday = 0
    return np.asarray(WEEKDAY_MULTIPLIERS[weekday], dtype=np.float64)


def salary_day_multiplier(days: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Lift on the 1st-3rd and the last two days of each month, 1.0 otherwise.

    >>> salary_day_multiplier(np.array(["2025-03-01", "2025-03-15", "2025-02-28"], "datetime64[D]")).tolist()
    [1.07, 1.0, 1.04]
    """
    d = _as_days(days)
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64) + 1
    to_end = ((month + 1).astype("datetime64[D]") - d).astype(np.int64)
    out = np.ones(d.shape, dtype=np.float64)
    for dom, m in SALARY_FIRST_DAYS.items():
        out[day_of_month == dom] = m
    for left, m in SALARY_LAST_DAYS.items():
        out[to_end == left] = m
    return out


def day_multiplier(days: npt.ArrayLike, region: str | None = None) -> npt.NDArray[np.float64]:
    """Festival x weekday x salary-day multiplier per day (see each function)."""
    return festival_multiplier(days, region) * weekday_multiplier(days) * salary_day_multiplier(days)


# --- hour of day -------------------------------------------------------------------------------------

OCCUPATIONS: tuple[str, ...] = (
    "salaried", "student", "retired", "business_owner", "freelancer", "professional",
    "government_employee", "homemaker",
)

# Relative activity per hour 00..23 (normalised below to sum 1). Shapes from the SynFinance domain notes:
# salaried peaks 07-08 (commute, breakfast), 12-13 (lunch) and 18-22 (evening shopping, food delivery);
# retirees shop in the morning; students late; every profile ~1% per hour at 00-04, overall peak 19-21 h.
_HOURLY_RAW: dict[str, tuple[float, ...]] = {
    "salaried": (1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 2.5, 4.5, 5.0, 4.0, 3.5, 3.8,
                 5.0, 5.2, 3.8, 3.2, 3.2, 3.8, 5.5, 7.0, 7.8, 7.6, 5.8, 3.2),
    "student": (1.7, 1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 2.2, 3.0, 3.2, 3.4, 3.8,
                4.5, 4.8, 4.6, 4.6, 5.0, 5.4, 6.2, 7.2, 7.8, 7.8, 6.6, 4.4),
    "retired": (0.5, 0.3, 0.3, 0.3, 0.6, 2.0, 4.5, 7.0, 8.6, 8.8, 8.2, 7.0,
                5.6, 4.6, 4.0, 4.0, 4.4, 5.0, 5.2, 4.8, 3.8, 2.6, 1.4, 0.8),
    "business_owner": (1.0, 0.6, 0.5, 0.5, 0.6, 1.2, 2.4, 3.6, 4.4, 5.2, 5.8, 5.8,
                       5.6, 5.2, 5.0, 5.0, 5.2, 5.4, 5.8, 6.4, 6.6, 5.6, 3.8, 2.2),
    "freelancer": (1.6, 1.1, 0.8, 0.6, 0.6, 0.8, 1.4, 2.4, 3.4, 4.0, 4.6, 4.8,
                   5.0, 5.0, 4.8, 4.6, 4.8, 5.0, 5.6, 6.4, 6.8, 6.6, 5.6, 3.8),
    "professional": (1.0, 0.6, 0.5, 0.4, 0.5, 1.0, 2.2, 3.8, 4.6, 4.6, 4.2, 4.2,
                     5.0, 5.4, 4.2, 3.6, 3.6, 4.2, 5.6, 7.0, 7.6, 7.2, 5.6, 3.4),
    "government_employee": (0.8, 0.5, 0.4, 0.4, 0.6, 1.5, 3.2, 5.0, 5.4, 4.2, 3.6, 3.8,
                            4.6, 5.0, 3.8, 3.4, 3.6, 4.8, 6.4, 7.4, 7.2, 5.8, 3.8, 2.0),
    "homemaker": (0.6, 0.4, 0.3, 0.3, 0.5, 1.6, 3.6, 5.6, 6.4, 6.8, 6.6, 5.8,
                  5.0, 4.2, 3.6, 3.6, 4.4, 5.4, 6.2, 6.6, 6.0, 4.4, 2.4, 1.2),
}


def _profile(raw: tuple[float, ...]) -> npt.NDArray[np.float64]:
    a = np.asarray(raw, dtype=np.float64)
    a = np.asarray(a / a.sum(), dtype=np.float64)
    a.flags.writeable = False
    return a


HOURLY_PROFILES: dict[str, npt.NDArray[np.float64]] = {o: _profile(_HOURLY_RAW[o]) for o in OCCUPATIONS}
