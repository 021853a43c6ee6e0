"""Festival dates for any year, computed from the Sun's and the Moon's positions as the almanacs do.

Indian festivals follow the lunisolar calendar: a *tithi* is each 12 degrees the Moon gains on the Sun
(30 to a lunar month, 1-15 waxing, 16-30 waning, 30 the new moon); a lunar month runs from one new moon to
the next (amanta) and is named by the sidereal sign the Sun is in when it begins (a month whose next one
starts in the same sign is a leap month, and festivals keep to the regular one); a *nakshatra* is each
13 1/3 degrees of the Moon's sidereal longitude; a solar month begins when the Sun enters a sign. Each
festival is a tithi (or a nakshatra, or a solar ingress) prevailing at a time of day the rule names
(sunrise, midday, afternoon, the evening after sunset), in New Delhi unless the festival is regional.
Eid follows the Hijri months as Saudi Arabia's Umm al-Qura calendar starts them (the day after an evening
at Mecca on which the conjunction has passed), a day later in India, as in 2023-2025.

Positions: the Sun by Meeus' low-accuracy series (Astronomical Algorithms, 2nd ed., ch. 25, ~0.01 deg),
the Moon by the 50 largest periodic terms of his chapter 47 (~0.01 deg), sidereal by the Lahiri ayanamsa;
sunrise and sunset by the standard -0.833 deg altitude. That puts a tithi's start within minutes, so a
computed date differs from a published one only when a tithi starts within minutes of the time of day its
rule names. `calendar.FESTIVAL_DATES` (2023-2030, gazetted and published dates) is what the stream uses
for those years; tests/producers/test_panchang.py compares the two.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import lru_cache

Angle = Callable[[float], float]       # a longitude-like angle, degrees, of a Julian day
Clock = Callable[[dt.date], float]     # a time of day, IST hours, for a date

J2000 = 2451545.0
SYNODIC_MONTH = 29.530588861
_EPOCH_JD = 2440587.5  # 1970-01-01 00:00 UTC
IST_HOURS = 5.5
NEW_DELHI, KOLKATA, KOCHI = (28.61, 77.21), (22.57, 88.36), (9.93, 76.27)  # (latitude, longitude)

# Meeus table 47.A, longitude: multiples of D, M, M', F and the coefficient in 1e-6 degrees
_MOON_TERMS: tuple[tuple[int, int, int, int, int], ...] = (
    (0, 0, 1, 0, 6288774), (2, 0, -1, 0, 1274027), (2, 0, 0, 0, 658314), (0, 0, 2, 0, 213618),
    (0, 1, 0, 0, -185116), (0, 0, 0, 2, -114332), (2, 0, -2, 0, 58793), (2, -1, -1, 0, 57066),
    (2, 0, 1, 0, 53322), (2, -1, 0, 0, 45758), (0, 1, -1, 0, -40923), (1, 0, 0, 0, -34720),
    (0, 1, 1, 0, -30383), (2, 0, 0, -2, 15327), (0, 0, 1, 2, -12528), (0, 0, 1, -2, 10980),
    (4, 0, -1, 0, 10675), (0, 0, 3, 0, 10034), (4, 0, -2, 0, 8548), (2, 1, -1, 0, -7888),
    (2, 1, 0, 0, -6766), (1, 0, -1, 0, -5163), (1, 1, 0, 0, 4987), (2, -1, 1, 0, 4036),
    (2, 0, 2, 0, 3994), (4, 0, 0, 0, 3861), (2, 0, -3, 0, 3665), (0, 1, -2, 0, -2689),
    (2, 0, -1, 2, -2602), (2, -1, -2, 0, 2390), (1, 0, 1, 0, -2348), (2, -2, 0, 0, 2236),
    (0, 1, 2, 0, -2120), (0, 2, 0, 0, -2069), (2, -2, -1, 0, 2048), (2, 0, 1, -2, -1773),
    (2, 0, 0, 2, -1595), (4, -1, -1, 0, 1215), (0, 0, 2, 2, -1110), (3, 0, -1, 0, -892),
    (2, 1, 1, 0, -810), (4, -1, -2, 0, 759), (0, 2, -1, 0, -713), (2, 2, -1, 0, -700),
    (2, 1, -2, 0, 691), (2, -1, 0, -2, 596), (4, 0, 1, 0, 549), (0, 0, 4, 0, 537),
    (4, -1, 0, 0, 520), (1, 0, -2, 0, -487),
)


def _centuries(jd: float) -> float:
    return (jd - J2000) / 36525.0


def sun_longitude(jd: float) -> float:
    """The Sun's apparent tropical longitude, degrees."""
    t = _centuries(jd)
    mean = 280.46646 + 36000.76983 * t + 0.0003032 * t * t
    anomaly = math.radians(357.52911 + 35999.05029 * t - 0.0001537 * t * t)
    centre = ((1.914602 - 0.004817 * t - 0.000014 * t * t) * math.sin(anomaly)
              + (0.019993 - 0.000101 * t) * math.sin(2 * anomaly) + 0.000289 * math.sin(3 * anomaly))
    return (mean + centre - 0.00569 - 0.00478 * math.sin(math.radians(125.04 - 1934.136 * t))) % 360.0


def moon_longitude(jd: float) -> float:
    """The Moon's apparent tropical longitude, degrees (nutation as for the Sun)."""
    t = _centuries(jd)
    mean = 218.3164477 + 481267.88123421 * t - 0.0015786 * t * t + t ** 3 / 538841.0
    d = math.radians(297.8501921 + 445267.1114034 * t - 0.0018819 * t * t + t ** 3 / 545868.0)
    m = math.radians(357.5291092 + 35999.0502909 * t - 0.0001536 * t * t)
    mp = math.radians(134.9633964 + 477198.8675055 * t + 0.0087414 * t * t + t ** 3 / 69699.0)
    f = math.radians(93.2720950 + 483202.0175233 * t - 0.0036539 * t * t)
    e = 1.0 - 0.002516 * t - 0.0000074 * t * t
    total = 0.0
    for kd, km, kmp, kf, coefficient in _MOON_TERMS:
        total += coefficient * e ** abs(km) * math.sin(kd * d + km * m + kmp * mp + kf * f)
    total += (3958 * math.sin(math.radians(119.75 + 131.849 * t)) + 1962 * math.sin(math.radians(mean) - f)
              + 318 * math.sin(math.radians(53.09 + 479264.290 * t)))
    return (mean + total / 1e6 - 0.00569 - 0.00478 * math.sin(math.radians(125.04 - 1934.136 * t))) % 360.0


def ayanamsa(jd: float) -> float:
    """Lahiri (Chitrapaksha) ayanamsa, degrees: 23.853 at J2000, precessing 50.29 arcsec a year."""
    return 23.853 + 1.39694 * _centuries(jd)


def elongation(jd: float) -> float:
    return (moon_longitude(jd) - sun_longitude(jd)) % 360.0


def tithi(jd: float) -> int:
    """1-30: the twelve-degree step of the Moon's elongation at `jd`."""
    return int(elongation(jd) // 12.0) + 1


def sidereal_sun(jd: float) -> float:
    return (sun_longitude(jd) - ayanamsa(jd)) % 360.0


def sidereal_moon(jd: float) -> float:
    return (moon_longitude(jd) - ayanamsa(jd)) % 360.0


def _solve(function: Angle, target: float, guess: float, rate: float) -> float:
    """The time near `guess` at which the angle `function` reaches `target` (Newton steps at `rate` deg/day)."""
    jd = guess
    for _ in range(8):
        miss = (function(jd) - target + 180.0) % 360.0 - 180.0
        jd -= miss / rate
        if abs(miss) < 1e-6:
            break
    return jd



def new_moons(start: float, end: float) -> list[float]:
    """Every conjunction between two Julian days."""
    k = math.floor((start - 2451550.09766) / SYNODIC_MONTH)
    out: list[float] = []
    while True:
        guess = 2451550.09766 + SYNODIC_MONTH * k
        moment = _solve(elongation, 0.0, guess, 12.19)
        if moment > end:
            return out
        if moment >= start:
            out.append(moment)
        k += 1


def julian_day(day: dt.date, hours_ist: float = 0.0) -> float:
    return _EPOCH_JD + (day - dt.date(1970, 1, 1)).days + (hours_ist - IST_HOURS) / 24.0


def ist_date(jd: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(jd - _EPOCH_JD + IST_HOURS / 24.0))


def sun_hours(day: dt.date, place: tuple[float, float], rising: bool) -> float:
    """Sunrise (or sunset) at `place` (latitude, longitude) on `day`, in IST hours."""
    noon = julian_day(day, 12.0)
    lam = math.radians(sun_longitude(noon))
    obliquity = math.radians(23.4393)
    declination = math.asin(math.sin(obliquity) * math.sin(lam))
    t = _centuries(noon)
    mean = math.radians(280.46646 + 36000.76983 * t)
    anomaly = math.radians(357.52911 + 35999.05029 * t)
    y, ecc = math.tan(obliquity / 2) ** 2, 0.016708634
    equation = math.degrees(y * math.sin(2 * mean) - 2 * ecc * math.sin(anomaly)
                            + 4 * ecc * y * math.sin(anomaly) * math.cos(2 * mean)
                            - 0.5 * y * y * math.sin(4 * mean) - 1.25 * ecc * ecc * math.sin(2 * anomaly)) * 4.0 / 60.0
    latitude = math.radians(place[0])
    cos_hour = ((math.sin(math.radians(-0.833)) - math.sin(latitude) * math.sin(declination))
                / (math.cos(latitude) * math.cos(declination)))
    hour_angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_hour)))) / 15.0
    solar_noon = 12.0 + IST_HOURS - place[1] / 15.0 - equation
    return solar_noon - hour_angle if rising else solar_noon + hour_angle


# --- lunar months ------------------------------------------------------------------------------------

MONTHS = ("chaitra", "vaishakha", "jyeshtha", "ashadha", "shravana", "bhadrapada", "ashvin", "kartika",
          "margashirsha", "pausha", "magha", "phalguna")


@lru_cache(maxsize=64)
def lunar_months(year: int) -> tuple[tuple[str, float, float], ...]:
    """The regular (not leap) amanta months that begin in `year` or its neighbours: (name, start, end)."""
    moons = new_moons(julian_day(dt.date(year - 1, 11, 1)), julian_day(dt.date(year + 1, 3, 1)))
    signs = [int(sidereal_sun(m) // 30.0) for m in moons]
    months = []
    for i in range(len(moons) - 1):
        leap = i + 1 < len(moons) and signs[i + 1] == signs[i]
        if not leap:
            months.append((MONTHS[(signs[i] + 1) % 12], moons[i], moons[i + 1]))
    return tuple(months)


def _month(year: int, name: str) -> tuple[float, float]:
    for month, start, end in lunar_months(year):
        if month == name and ist_date(start).year == year:
            return start, end
    if name == "pausha":  # Pausha can begin in the previous December
        for month, start, end in lunar_months(year):
            if month == name and ist_date(end).year == year:
                return start, end
    raise ValueError(f"no {name} month found in {year}")


def tithi_span(year: int, month: str, wanted: int) -> tuple[float, float]:
    """When tithi `wanted` of a lunar month begins and ends (Julian days)."""
    start, _ = _month(year, month)
    step = SYNODIC_MONTH / 30.0
    return (_solve(elongation, 12.0 * (wanted - 1), start + (wanted - 1) * step, 12.19),
            _solve(elongation, 12.0 * wanted % 360.0, start + wanted * step, 12.19))


def _tithi_day(year: int, month: str, wanted: int, start: Clock, end: Clock | None = None) -> dt.date:
    """The day whose window of the day (IST hours `start` to `end`; a moment when `end` is None) tithi
    `wanted` of the lunar month covers the most (the first of equals); if it covers no day's, the day it
    begins (a tithi that begins and ends between two such moments)."""
    begins, ends = tithi_span(year, month, wanted)
    best, best_cover = ist_date(begins), 0.0
    day = ist_date(begins)
    while day <= ist_date(ends):
        a = julian_day(day, start(day))
        b = a if end is None else julian_day(day, end(day))
        cover = (1.0 if begins <= a < ends else 0.0) if end is None else min(ends, b) - max(begins, a)
        if cover > best_cover:
            best, best_cover = day, cover
        day += dt.timedelta(days=1)
    return best


_AFTERNOON = lambda day: 15.0  # noqa: E731 - aparahna, the afternoon


def _sunrise(place: tuple[float, float], plus: float = 0.0) -> Clock:
    return lambda day: sun_hours(day, place, True) + plus


def _sunset(place: tuple[float, float], plus: float = 0.0) -> Clock:
    return lambda day: sun_hours(day, place, False) + plus


def _holi(year: int) -> dt.date:
    """The day after Holika Dahan: the evening the Phalguna full moon prevails at pradosh, or the next one when
    its first half (bhadra, when the fire is not lit) lasts past midnight and the full moon lasts into the
    next afternoon (ten hours after sunrise: the 2023-2030 dates say where the almanacs draw that line)."""
    begins, ends = tithi_span(year, "phalguna", 15)
    evening = _tithi_day(year, "phalguna", 15, _sunset(NEW_DELHI, 1.0))
    after = evening + dt.timedelta(days=1)
    if (begins + ends) / 2.0 > julian_day(after) and ends > julian_day(after, sun_hours(after, NEW_DELHI, True) + 10):
        evening = after
    return evening + dt.timedelta(days=1)


def _raksha_bandhan(year: int) -> dt.date:
    """The Shravana full moon 2.4 hours (six ghatis) after sunrise, else on the afternoon before."""
    begins, ends = tithi_span(year, "shravana", 15)
    day = ist_date(begins)
    while day <= ist_date(ends):
        if begins <= julian_day(day, sun_hours(day, NEW_DELHI, True) + 2.4) < ends:
            return day
        day += dt.timedelta(days=1)
    return _tithi_day(year, "shravana", 15, _AFTERNOON)


def _onam(year: int) -> dt.date:
    """Thiruvonam (the Moon's sidereal 280-293 1/3 deg) 2.4 hours after a Kochi sunrise in the solar month
    Chingam (the Sun in sidereal Leo)."""
    day = dt.date(year, 8, 10)
    while day < dt.date(year, 9, 30):
        moment = julian_day(day, sun_hours(day, KOCHI, True) + 2.4)
        if 120.0 <= sidereal_sun(moment) < 150.0 and 280.0 <= sidereal_moon(moment) < 280.0 + 40.0 / 3.0:
            return day
        day += dt.timedelta(days=1)
    raise ValueError(f"no Thiruvonam in Chingam {year}")


def _pongal(year: int) -> dt.date:
    """Thai 1: the day the Sun enters sidereal Capricorn if it does before midday, else the next (the rule
    Tamil Nadu's 2023-2030 Pongal holidays follow)."""
    ingress = _solve(sidereal_sun, 270.0, julian_day(dt.date(year, 1, 14), 12.0), 1.0146)
    day = ist_date(ingress)
    return day if ingress < julian_day(day, 12.0) else day + dt.timedelta(days=1)


# Hijri months: the conjunction of 20 April 2023 began Shawwal 1444; every Hijri year is 12 lunations.
_SHAWWAL_1444 = 2460054.68
_MECCA_SUNSET_UTC_HOURS = 15.5


def _hijri_starts(year: int, month_offset: int) -> list[dt.date]:
    """In India: the first days of the Hijri month `month_offset` months after Shawwal, in `year`."""
    out = []
    for moment in new_moons(julian_day(dt.date(year - 1, 12, 1)), julian_day(dt.date(year + 1, 1, 31))):
        lunation = round((moment - _SHAWWAL_1444) / SYNODIC_MONTH)
        if (lunation - month_offset) % 12:
            continue
        utc = moment - _EPOCH_JD
        utc_day = dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(utc))
        evening = utc_day if (utc % 1.0) * 24.0 < _MECCA_SUNSET_UTC_HOURS else utc_day + dt.timedelta(days=1)
        india = evening + dt.timedelta(days=2)  # Saudi Arabia's 1st is the next day; India one day later
        if india.year == year:
            out.append(india)
    return out


def _eid_al_fitr(year: int) -> tuple[dt.date, ...]:
    return tuple(_hijri_starts(year, 0))


def _eid_al_adha(year: int) -> tuple[dt.date, ...]:
    return tuple(d + dt.timedelta(days=9) for d in _hijri_starts(year, 2))  # 10 Dhu al-Hijjah


_RULES = {
    "diwali": lambda y: (_tithi_day(y, "ashvin", 30, _sunset(NEW_DELHI, 1.0)),),
    "durga_puja": lambda y: (_tithi_day(y, "ashvin", 8, _sunrise(KOLKATA)),),
    "navratri": lambda y: (_tithi_day(y, "ashvin", 1, _sunrise(NEW_DELHI)),),
    "dussehra": lambda y: (_tithi_day(y, "ashvin", 10, _AFTERNOON),),
    "holi": lambda y: (_holi(y),),
    "raksha_bandhan": lambda y: (_raksha_bandhan(y),),
    "ganesh_chaturthi": lambda y: (_tithi_day(y, "bhadrapada", 4, lambda d: 11.0, lambda d: 13.5),),  # midday
    "onam": lambda y: (_onam(y),),
    "pongal": lambda y: (_pongal(y),),
    "eid_al_fitr": _eid_al_fitr,
    "eid_al_adha": _eid_al_adha,
    "christmas": lambda y: (dt.date(y, 12, 25),),
}
FIRST_YEAR, LAST_YEAR = 1900, 2200  # the series hold to minutes over these centuries


@lru_cache(maxsize=4096)
def festival_days(name: str, year: int) -> tuple[dt.date, ...]:
    """The days festival `name` falls on in `year` (Eid can fall twice in a Gregorian year, or not at all).

    >>> festival_days("diwali", 2035), festival_days("christmas", 2040)
    ((datetime.date(2035, 10, 30),), (datetime.date(2040, 12, 25),))
    """
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"festival dates are computed for {FIRST_YEAR}-{LAST_YEAR}; got {year}")
    return _RULES[name](year)
