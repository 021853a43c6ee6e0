"""Rate profiles: how many events per second, and when (`producers.pacing.Pacer` holds a producer to one).

A profile is a small immutable object speaking one verb, `rate_at(t)`: events per second at `t` seconds
of wall-clock time since the run started. The wall-clock profiles (`Constant`, `Poisson`, `Ramp`,
`Step`, `Burst`) also give `events_by(t)`, the integral of the rate from 0 to `t`, which is the
schedule the pacer keeps. Three profiles are driven by the events themselves rather than by the wall
clock: `Diurnal` asks for the rate at the *simulated* hour of day of each event (`rate_for_event`),
`ReplaySpeed` sends each event when its event time, replayed `factor` times faster, comes round, and
`Max` never waits.

Their CLI syntax (`constant:5000`, `ramp:1000:50000:60`, ...) is read in `producers.profile_syntax`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.common.units import IST_OFFSET_S

__all__ = [
    "Burst",
    "Constant",
    "Diurnal",
    "Max",
    "Poisson",
    "Profile",
    "Ramp",
    "RateProfile",
    "ReplaySpeed",
    "Step",
]

# Indian Standard Time is UTC+05:30 all year (no daylight saving); event times are µs since the epoch.


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _as_floats(obj: object, *names: str) -> None:
    """Store numeric fields as floats, so equal profiles compare and print alike however built."""
    for name in names:
        object.__setattr__(obj, name, float(getattr(obj, name)))


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {_fmt(value)}")


@dataclass(frozen=True)
class Constant:
    """The same rate all the time.

    >>> p = Constant(5000)
    >>> p.rate_at(0), p.rate_at(3600)
    (5000.0, 5000.0)
    >>> p.events_by(2.5)
    12500.0
    >>> str(p)
    'constant:5000'
    """

    rate: float

    def __post_init__(self) -> None:
        _as_floats(self, "rate")
        _positive("rate", self.rate)

    def rate_at(self, t: float) -> float:
        return self.rate

    def events_by(self, t: float) -> float:
        return self.rate * max(t, 0.0)

    def __str__(self) -> str:
        return f"constant:{_fmt(self.rate)}"


@dataclass(frozen=True)
class Poisson:
    """The same mean rate as `Constant`, but arrivals form a Poisson process: exponential gaps.

    The gaps come from a seeded generator the caller passes in, so a run's send times repeat.

    >>> p = Poisson(1000)
    >>> p.rate_at(10)
    1000.0
    >>> gaps = p.gaps(np.random.default_rng(7), 100_000)
    >>> round(float(len(gaps) / gaps.sum()), -1)
    1000.0
    """

    rate: float

    def __post_init__(self) -> None:
        _as_floats(self, "rate")
        _positive("rate", self.rate)

    def rate_at(self, t: float) -> float:
        return self.rate

    def events_by(self, t: float) -> float:
        """The *expected* count by `t` (the pacer uses the drawn gaps, not this)."""
        return self.rate * max(t, 0.0)

    def gaps(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """`n` inter-arrival gaps in seconds, exponential with mean 1/rate."""
        return rng.exponential(1.0 / self.rate, n)

    def __str__(self) -> str:
        return f"poisson:{_fmt(self.rate)}"


@dataclass(frozen=True)
class Ramp:
    """Linear from `start` to `end` over `over_s` seconds, then holds `end`.

    >>> p = Ramp(1000, 5000, over_s=60)
    >>> p.rate_at(0), p.rate_at(30), p.rate_at(60), p.rate_at(600)
    (1000.0, 3000.0, 5000.0, 5000.0)
    >>> p.events_by(60), p.events_by(70)
    (180000.0, 230000.0)
    """

    start: float
    end: float
    over_s: float

    def __post_init__(self) -> None:
        _as_floats(self, "start", "end", "over_s")
        _positive("from rate", self.start, allow_zero=True)
        _positive("to rate", self.end)
        _positive("duration", self.over_s)

    def rate_at(self, t: float) -> float:
        frac = min(max(t, 0.0), self.over_s) / self.over_s
        return self.start + (self.end - self.start) * frac

    def events_by(self, t: float) -> float:
        t = max(t, 0.0)
        ramp_t = min(t, self.over_s)
        ramped = (self.start + self.rate_at(ramp_t)) / 2 * ramp_t  # trapezoid: exact for a line
        return ramped + self.end * (t - ramp_t)

    def __str__(self) -> str:
        return f"ramp:{_fmt(self.start)}:{_fmt(self.end)}:{_fmt(self.over_s)}"


@dataclass(frozen=True)
class Step:
    """Levels of (duration_s, rate) in order; after the last duration the last rate holds for good.

    Holding (rather than cycling) means a load test ends at a known plateau however long it runs.

    >>> p = Step([(10, 1000), (20, 5000)])
    >>> p.rate_at(0), p.rate_at(9.99), p.rate_at(10), p.rate_at(29.9), p.rate_at(1000)
    (1000.0, 1000.0, 5000.0, 5000.0, 5000.0)
    >>> p.events_by(30), p.events_by(31)
    (110000.0, 115000.0)
    """

    levels: Sequence[tuple[float, float]]

    def __post_init__(self) -> None:
        levels = tuple((float(d), float(r)) for d, r in self.levels)
        if not levels:
            raise ValueError("needs at least one DURATION_SxRATE level")
        for duration, rate in levels:
            _positive("duration", duration)
            _positive("rate", rate, allow_zero=True)
        _positive("last rate (it holds for the rest of the run)", levels[-1][1])
        # a tuple, so two equal profiles compare equal whatever sequence they were built from
        object.__setattr__(self, "levels", levels)

    def rate_at(self, t: float) -> float:
        start = 0.0
        for duration, rate in self.levels:
            if t < start + duration:
                return rate
            start += duration
        return self.levels[-1][1]

    def events_by(self, t: float) -> float:
        t, start, total = max(t, 0.0), 0.0, 0.0
        for duration, rate in self.levels:
            if t <= start + duration:
                return total + rate * (t - start)
            total += rate * duration
            start += duration
        return total + self.levels[-1][1] * (t - start)

    def __str__(self) -> str:
        return "step:" + ",".join(f"{_fmt(d)}x{_fmt(r)}" for d, r in self.levels)


@dataclass(frozen=True)
class Burst:
    """`base` rate, with `peak` for `for_s` seconds at the start of every `every_s`-second period,
    the first burst at `every_s` (so a run warms up at `base` before its first burst).

    >>> p = Burst(1000, 20000, every_s=60, for_s=5)
    >>> p.rate_at(0), p.rate_at(59.9), p.rate_at(60), p.rate_at(64.9), p.rate_at(65), p.rate_at(120)
    (1000.0, 1000.0, 20000.0, 20000.0, 1000.0, 20000.0)
    >>> p.events_by(120)
    215000.0
    """

    base: float
    peak: float
    every_s: float
    for_s: float

    def __post_init__(self) -> None:
        _as_floats(self, "base", "peak", "every_s", "for_s")
        _positive("base rate", self.base, allow_zero=True)
        _positive("peak rate", self.peak)
        _positive("period", self.every_s)
        _positive("burst length", self.for_s)
        if self.peak <= self.base:
            raise ValueError(f"peak rate {_fmt(self.peak)} must exceed base rate {_fmt(self.base)}")
        if self.for_s >= self.every_s:
            raise ValueError(f"burst length {_fmt(self.for_s)} s must be shorter than period "
                             f"{_fmt(self.every_s)} s")

    def rate_at(self, t: float) -> float:
        return self.peak if t >= self.every_s and t % self.every_s < self.for_s else self.base

    def events_by(self, t: float) -> float:
        t = max(t, 0.0)
        periods = math.floor(t / self.every_s)
        in_burst = 0.0 if periods == 0 else (periods - 1) * self.for_s + min(t - periods * self.every_s,
                                                                             self.for_s)
        return self.base * t + (self.peak - self.base) * in_burst

    def __str__(self) -> str:
        return f"burst:{_fmt(self.base)}:{_fmt(self.peak)}:{_fmt(self.every_s)}:{_fmt(self.for_s)}"


@dataclass(frozen=True)
class Diurnal:
    """Follows the SIMULATED clock: a cosine over the hour of day (IST), `peak` at `peak_hour`,
    `trough` twelve hours away. `rate_at` takes the hour of day; the pacer asks `rate_for_event`
    with each event's own time, so a day of simulated traffic has the same shape at any speed.

    The default peak at 15:00 puts the trough at 03:00, the quietest hour of Indian retail payments.

    >>> p = Diurnal(20000, 500)
    >>> p.rate_at(15), p.rate_at(3), p.rate_at(9)
    (20000.0, 500.0, 10250.0)
    >>> round(p.rate_for_event(1_700_000_000_000_000), 1)  # 2023-11-14 22:13:20 UTC = 03:43:20 IST
    673.8
    """

    peak: float
    trough: float
    peak_hour: float = 15.0

    def __post_init__(self) -> None:
        _as_floats(self, "peak", "trough", "peak_hour")
        _positive("peak rate", self.peak)
        _positive("trough rate", self.trough)
        if self.trough > self.peak:
            raise ValueError(f"trough {_fmt(self.trough)} must not exceed peak {_fmt(self.peak)}")
        if not 0 <= self.peak_hour < 24:
            raise ValueError(f"peak hour must be in [0, 24), got {_fmt(self.peak_hour)}")

    def rate_at(self, t: float) -> float:
        """Rate at hour of day `t` (0 <= t < 24, simulated IST)."""
        return float(self._rates(np.asarray(t, dtype=np.float64)))

    def rate_for_event(self, event_time_us: float) -> float:
        """Rate at the simulated hour of day of an event time (µs since the epoch)."""
        return float(self.rates_for_events(np.asarray(event_time_us)))

    def rates_for_events(self, event_times_us: npt.ArrayLike) -> npt.NDArray[np.float64]:
        seconds = np.asarray(event_times_us, dtype=np.float64) / 1e6 + IST_OFFSET_S
        return self._rates(np.mod(seconds, 86_400.0) / 3600.0)

    def _rates(self, hours: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        shape = (1 + np.cos(2 * np.pi * (hours - self.peak_hour) / 24)) / 2  # 1 at the peak, 0 at trough
        return np.asarray(self.trough + (self.peak - self.trough) * shape, dtype=np.float64)

    def __str__(self) -> str:
        suffix = "" if self.peak_hour == 15.0 else f":{_fmt(self.peak_hour)}"
        return f"diurnal:{_fmt(self.peak)}:{_fmt(self.trough)}{suffix}"


@dataclass(frozen=True)
class ReplaySpeed:
    """Event time, `factor` times faster: an event is due when the wall time elapsed equals
    (its event time - the first event's time) / factor. Its target is a timestamp, not a rate.

    >>> p = ReplaySpeed(60)
    >>> p.due_at(event_time_us=3_600_000_000 + 120_000_000, first_event_time_us=3_600_000_000)
    2.0
    """

    factor: float

    def __post_init__(self) -> None:
        _as_floats(self, "factor")
        _positive("speed factor", self.factor)

    def rate_at(self, t: float) -> float:
        """No rate of its own: it is whatever the event times say (NaN)."""
        return math.nan

    def due_at(self, event_time_us: float, first_event_time_us: float) -> float:
        return (event_time_us - first_event_time_us) / 1e6 / self.factor

    def __str__(self) -> str:
        return f"replay-speed:{_fmt(self.factor)}"


@dataclass(frozen=True)
class Max:
    """As fast as the producer can go; the pacer never sleeps.

    >>> Max().rate_at(0)
    inf
    """

    def rate_at(self, t: float) -> float:
        return math.inf

    def __str__(self) -> str:
        return "max"


RateProfile = Constant | Poisson | Ramp | Step | Burst
Profile = RateProfile | Diurnal | ReplaySpeed | Max
