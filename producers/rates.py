"""Rate profiles (how many events per second, and when) and the `Pacer` that holds a producer to one.

A profile is a small immutable object speaking one verb, `rate_at(t)`: events per second at `t` seconds
of wall-clock time since the run started. The wall-clock profiles (`Constant`, `Poisson`, `Ramp`,
`Step`, `Burst`) also give `events_by(t)`, the integral of the rate from 0 to `t`, which is the
schedule the pacer keeps. Three profiles are driven by the events themselves rather than by the wall
clock: `Diurnal` asks for the rate at the *simulated* hour of day of each event (`rate_for_event`),
`ReplaySpeed` sends each event when its event time, replayed `factor` times faster, comes round, and
`Max` never waits.

`parse_profile` reads the CLI syntax (`constant:5000`, `ramp:1000:50000:60`, ...) and `build_profile`
the `--profile NAME --rate R` form; both raise one-line `UsageError`s for bad input.

Pacing is *per batch* on an injectable monotonic clock, so tests run on simulated time and the
producer can hand over a few milliseconds' worth of events at a time at 100k events/s.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from synfinance.errors import UsageError

__all__ = [
    "PROFILE_NAMES",
    "Burst",
    "Constant",
    "Diurnal",
    "Max",
    "Pacer",
    "Poisson",
    "Profile",
    "Ramp",
    "RateProfile",
    "ReplaySpeed",
    "Step",
    "build_profile",
    "parse_profile",
]

# A batch should cover this much wall time: long enough that a sleep per batch costs nothing at
# 100k events/s (200 events per syscall), short enough that the stream still looks continuous.
BATCH_SECONDS = 0.002
MAX_BATCH = 5_000
# Indian Standard Time is UTC+05:30 all year (no daylight saving); event times are µs since the epoch.
IST_OFFSET_S = 5 * 3600 + 30 * 60


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

_SYNTAX: dict[str, str] = {
    "constant": "constant:RATE (e.g. constant:5000)",
    "poisson": "poisson:RATE (e.g. poisson:5000)",
    "ramp": "ramp:FROM:TO:OVER_S (e.g. ramp:1000:50000:60)",
    "step": "step:DURATION_SxRATE,... (e.g. step:10x1000,20x5000)",
    "burst": "burst:BASE:PEAK:EVERY_S:FOR_S (e.g. burst:1000:20000:60:5)",
    "diurnal": "diurnal:PEAK:TROUGH[:PEAK_HOUR] (e.g. diurnal:20000:500)",
    "replay-speed": "replay-speed:FACTOR (e.g. replay-speed:60)",
    "max": "max",
}
PROFILE_NAMES: tuple[str, ...] = tuple(_SYNTAX)


def _numbers(values: list[str], count: int | tuple[int, int]) -> list[float]:
    low, high = (count, count) if isinstance(count, int) else count
    if not low <= len(values) <= high:
        wanted = str(low) if low == high else f"{low} or {high}"
        raise ValueError(f"expected {wanted} numbers, got {len(values)}")
    out = []
    for value in values:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        out.append(number)
    return out


def _step_levels(text: str) -> list[tuple[float, float]]:
    levels = []
    for item in text.split(","):
        duration, sep, rate = item.strip().partition("x")
        if not sep:
            raise ValueError(f"level {item.strip()!r} is not DURATION_SxRATE")
        d, r = _numbers([duration, rate], 2)
        levels.append((d, r))
    return levels


def parse_profile(text: str) -> Profile:
    """Read the CLI syntax; `str(profile)` writes it back.

    >>> parse_profile("ramp:1000:50000:60")
    Ramp(start=1000.0, end=50000.0, over_s=60.0)
    >>> str(parse_profile("step:10x1000,20x5000"))
    'step:10x1000,20x5000'
    """
    name, _, rest = text.strip().partition(":")
    name = name.lower()
    if name not in _SYNTAX:
        raise UsageError(f"unknown rate profile {text!r}: expected one of {', '.join(PROFILE_NAMES)}")
    args = rest.split(":") if rest else []
    try:
        if name == "max":
            if args:
                raise ValueError("takes no parameters")
            return Max()
        if name == "step":
            if len(args) != 1 or not args[0].strip():
                raise ValueError("expected a list of levels")
            return Step(_step_levels(args[0]))
        if name == "constant":
            return Constant(*_numbers(args, 1))
        if name == "poisson":
            return Poisson(*_numbers(args, 1))
        if name == "ramp":
            return Ramp(*_numbers(args, 3))
        if name == "burst":
            return Burst(*_numbers(args, 4))
        if name == "diurnal":
            return Diurnal(*_numbers(args, (2, 3)))
        return ReplaySpeed(*_numbers(args, 1))
    except ValueError as error:
        raise UsageError(f"bad rate profile {text!r}: {error}; syntax {_SYNTAX[name]}") from None


def build_profile(name: str, rate: float | None, params: str | None) -> Profile:
    """The `--profile NAME [--rate R] [--profile-params P]` form.

    `name` may be a whole spec (`ramp:1000:50000:60`). `rate` applies to `constant` and `poisson`;
    the other profiles take their parameters in `params` (what follows `NAME:` in the spec).

    >>> build_profile("poisson", 200, None)
    Poisson(rate=200.0)
    >>> build_profile("burst", None, "1000:20000:60:5")
    Burst(base=1000.0, peak=20000.0, every_s=60.0, for_s=5.0)
    """
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise UsageError(f"--rate must be > 0 events/s, got {rate:g}")
    key = name.strip().lower()
    if ":" in key or key == "max":
        if rate is not None or params:
            raise UsageError(f"--profile {name} already says its rate; drop --rate and the parameters")
        return parse_profile(name)
    if key not in _SYNTAX:
        raise UsageError(f"unknown rate profile {name!r}: expected one of {', '.join(PROFILE_NAMES)}")
    if params:
        if rate is not None:
            raise UsageError(f"give either --rate or parameters for --profile {key}, not both")
        return parse_profile(f"{key}:{params}")
    if rate is None:
        raise UsageError(f"--profile {key} needs parameters: {_SYNTAX[key]}")
    if key == "constant":
        return Constant(rate)
    if key == "poisson":
        return Poisson(rate)
    raise UsageError(f"--rate does not apply to --profile {key}; give its parameters: {_SYNTAX[key]}")


def _time_for(profile: RateProfile, count: float, after: float) -> float:
    """The earliest t >= `after` with events_by(t) >= count (events_by is non-decreasing), within
    ~1 ns per 10 s of run time; never early.

    Inverting the integral, rather than adding 1/rate per event, is what keeps the schedule exact
    over a ramp or across a step edge: there is no per-batch rounding to accumulate.
    """
    if profile.events_by(after) >= count:
        return after
    tol = max(1e-9, 1e-10 * after)
    # Newton steps on events_by (its slope is rate_at) settle a batch in one step where the rate is flat
    # and two or three on a ramp; each answer is checked, and bisection below is the safety net
    guess = after
    for _ in range(4):
        guess += (count - profile.events_by(guess)) / max(profile.rate_at(guess), 1e-9)
        if profile.events_by(guess + tol) >= count > profile.events_by(guess - tol):
            return max(guess + tol, after)
    guess = max(guess, after)
    lo, hi = after, guess + tol
    while profile.events_by(hi) < count:  # terminates: every profile's final rate is > 0
        lo, hi = hi, hi + 2 * (hi - lo)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if profile.events_by(mid) >= count:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Pacer:
    """Holds a producer to a profile's schedule, a batch at a time.

    The run starts at the first `acquire`. Event number i (0-based) is due at the wall time where the
    profile's schedule reaches i events, so the first event goes at once; `acquire(n)` returns when the
    last of the next `n` events is due. Because the due times come from the cumulative schedule, time
    the producer spends between calls (encoding, produce()) is absorbed instead of accumulating as
    drift, and a producer that falls behind catches up until it is back on schedule.

    >>> class Clock:  # a fake clock: sleeping advances it
    ...     now = 0.0
    ...     def __call__(self): return self.now
    ...     def sleep(self, s): self.now += s
    >>> clock = Clock()
    >>> pacer = Pacer(Constant(100), clock=clock, sleep=clock.sleep)
    >>> for _ in range(50):
    ...     pacer.acquire(pacer.suggest_batch_size())
    >>> round(clock.now, 2), pacer.released
    (0.49, 50)
    """

    profile: Profile
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: np.random.Generator | None = None
    window_s: float = 10.0

    released: int = field(default=0, init=False)
    _start: float | None = field(default=None, init=False, repr=False)
    # schedule reached so far: due time of the last released event (rate profiles, a search bound)
    # or of the next event to release (gap-driven profiles, a running sum of gaps)
    _next_due: float = field(default=0.0, init=False, repr=False)
    _first_event_us: float | None = field(default=None, init=False, repr=False)
    _last_rate: float | None = field(default=None, init=False, repr=False)
    _history: deque[tuple[float, int]] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.profile, Poisson) and self.rng is None:
            raise ValueError("Poisson pacing needs rng=np.random.default_rng(seed) for repeatable gaps")

    def elapsed(self) -> float:
        return 0.0 if self._start is None else self.clock() - self._start

    def acquire(self, n_events: int, next_event_times_us: npt.NDArray[np.int64] | None = None) -> None:
        """Block until the next `n_events` events may be sent (`Diurnal` and `ReplaySpeed` need their
        event times, µs, in send order)."""
        if n_events <= 0:
            return
        if self._start is None:
            self._start = self.clock()
            self._history.append((0.0, 0))
        due_last = self._schedule(n_events, next_event_times_us)
        wait = due_last - self.elapsed()
        if wait > 0:
            self.sleep(wait)
        self.released += n_events
        now = self.elapsed()
        self._history.append((now, self.released))
        # keep one point at or before the window's start, so the window is always fully covered
        while len(self._history) > 2 and self._history[1][0] <= now - self.window_s:
            self._history.popleft()

    def _schedule(self, n: int, times_us: npt.NDArray[np.int64] | None) -> float:
        """Due time of the last of the next `n` events; advances `_next_due` past them."""
        profile = self.profile
        if isinstance(profile, Max):
            return 0.0
        if isinstance(profile, Diurnal | ReplaySpeed):
            if times_us is None or len(times_us) != n:
                raise ValueError(f"{profile} pacing needs the event times of the {n} events to send")
            if isinstance(profile, ReplaySpeed):
                if self._first_event_us is None:
                    self._first_event_us = float(times_us[0])
                return profile.due_at(float(times_us[-1]), self._first_event_us)
            rates = profile.rates_for_events(times_us)
            self._last_rate = float(rates[-1])
            return self._advance(1.0 / rates)
        if isinstance(profile, Poisson):
            assert self.rng is not None
            return self._advance(profile.gaps(self.rng, n))
        due_last = _time_for(profile, self.released + n - 1, self._next_due)
        self._next_due = due_last
        return due_last

    def _advance(self, gaps: npt.NDArray[np.float64]) -> float:
        """Gap-driven schedules: the gap after each event is its own; the batch waits for its last."""
        due_last = self._next_due + float(gaps[:-1].sum())
        self._next_due = due_last + float(gaps[-1])
        return due_last

    def achieved_rate(self) -> float:
        """Events/s released over the last `window_s` seconds (0 before two releases)."""
        if not self._history:
            return 0.0
        since, count = self._history[0]
        now = self.elapsed()
        return (self.released - count) / (now - since) if now > since else 0.0

    def target_rate(self) -> float | None:
        """What the profile asked for over the same window; None for `max` and `replay-speed`,
        whose targets are not rates."""
        profile = self.profile
        if isinstance(profile, Max | ReplaySpeed):
            return None
        if isinstance(profile, Diurnal):
            return self._last_rate if self._last_rate is not None else profile.peak
        now = self.elapsed()
        since = self._history[0][0] if self._history else now
        if now <= since:
            return profile.rate_at(now)
        return (profile.events_by(now) - profile.events_by(since)) / (now - since)

    def suggest_batch_size(self) -> int:
        """About `BATCH_SECONDS` worth of events at the current rate; one at a time at low rates."""
        profile = self.profile
        if isinstance(profile, Max):
            return MAX_BATCH
        if isinstance(profile, ReplaySpeed):
            rate = self.achieved_rate()
        elif isinstance(profile, Diurnal):
            rate = self._last_rate if self._last_rate is not None else profile.trough
        else:
            rate = profile.rate_at(self.elapsed())
        return int(min(max(1, rate * BATCH_SECONDS), MAX_BATCH))
