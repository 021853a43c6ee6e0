"""When records go out: the `Pacer` for transactions, the `LabelSchedule` for their labels.

The `Pacer` holds a producer to a rate profile's schedule (the profiles themselves, what rate and when,
live in `producers.rates`). Pacing is *per batch* on an injectable monotonic clock, so tests run on
simulated time and the producer can hand over a few milliseconds' worth of events at a time at 100k
events/s. The `LabelSchedule` holds each label until the stream's clock reaches its label time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from synfinance.producers.rates import Diurnal, Max, Poisson, Profile, RateProfile, ReplaySpeed

__all__ = ["BATCH_SECONDS", "MAX_BATCH", "Columns", "LabelSchedule", "Pacer"]

# A batch should cover this much wall time: long enough that a sleep per batch costs nothing at
# 100k events/s (200 events per syscall), short enough that the stream still looks continuous.
BATCH_SECONDS = 0.002
MAX_BATCH = 5_000
Columns = dict[str, np.ndarray]


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
    >>> from synfinance.producers.rates import Constant
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
    # the profile's own clock starts here (elapsed s, events released): moved by `switch` and `resume`
    _origin_s: float = field(default=0.0, init=False, repr=False)
    _origin_released: int = field(default=0, init=False, repr=False)
    _paused_at: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.profile, Poisson) and self.rng is None:
            raise ValueError("Poisson pacing needs rng=np.random.default_rng(seed) for repeatable gaps")

    def elapsed(self) -> float:
        return 0.0 if self._start is None else self.clock() - self._start

    def _profile_time(self) -> float:
        """Seconds on the current profile's clock (`elapsed` less where `switch` or `resume` put its start)."""
        return self.elapsed() - self._origin_s

    def switch(self, profile: Profile) -> None:
        """Follow `profile` from now on, as if the run started now with the events released so far behind it:
        no catching up on the old schedule, no burst. The achieved rate is measured from now (up to
        `window_s`), so it shows the new rate at once."""
        if isinstance(profile, Poisson) and self.rng is None:
            raise ValueError("Poisson pacing needs rng=np.random.default_rng(seed) for repeatable gaps")
        self.profile = profile
        self._restart_clock(self.elapsed())
        self._first_event_us, self._last_rate = None, None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        """Hold the schedule from now (the caller stops acquiring); ValueError if already paused."""
        if self._paused_at is not None:
            raise ValueError("the run is already paused")
        self._paused_at = self.clock()

    def resume(self) -> float:
        """Go on where the schedule left off; the pause's length. The profile's clock stood still meanwhile:
        a ramp goes on from where it was, and nothing is sent to make up for the pause."""
        if self._paused_at is None:
            raise ValueError("the run is not paused")
        paused_s, self._paused_at = self.clock() - self._paused_at, None
        if self._start is not None:
            self._origin_s += paused_s
            self._history.clear()
            self._history.append((self.elapsed(), self.released))
        return paused_s

    def _restart_clock(self, at_s: float) -> None:
        if self._start is None:
            return
        self._origin_s, self._origin_released, self._next_due = at_s, self.released, 0.0
        self._history.clear()
        self._history.append((at_s, self.released))

    def acquire(self, n_events: int, next_event_times_us: npt.NDArray[np.int64] | None = None) -> None:
        """Block until the next `n_events` events may be sent (`Diurnal` and `ReplaySpeed` need their
        event times, µs, in send order)."""
        if n_events <= 0:
            return
        if self._start is None:
            self._start = self.clock()
            self._history.append((0.0, 0))
        due_last = self._schedule(n_events, next_event_times_us)
        wait = due_last - self._profile_time()
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
        due_last = _time_for(profile, self.released - self._origin_released + n - 1, self._next_due)
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
        origin = self._origin_s
        if now <= since:
            return profile.rate_at(now - origin)
        return (profile.events_by(now - origin) - profile.events_by(since - origin)) / (now - since)

    def suggest_batch_size(self) -> int:
        """About `BATCH_SECONDS` worth of events at the current rate; one at a time at low rates. A
        producer behind schedule gets everything already due (up to `MAX_BATCH`), so it catches up in
        a few large batches instead of many small ones, each paying its fixed cost (and, when another
        thread holds the GIL, a wait of up to the 5 ms switch interval)."""
        profile = self.profile
        if isinstance(profile, Max):
            return MAX_BATCH
        backlog = 0.0
        if isinstance(profile, ReplaySpeed):
            rate = self.achieved_rate()
        elif isinstance(profile, Diurnal):
            rate = self._last_rate if self._last_rate is not None else profile.trough
        else:
            elapsed = self._profile_time()
            rate = profile.rate_at(elapsed)
            if self._start is not None and not isinstance(profile, Poisson):
                backlog = profile.events_by(elapsed) - (self.released - self._origin_released)
        return int(min(max(1, rate * BATCH_SECONDS, backlog), MAX_BATCH))


@dataclass(frozen=True)
class LabelBatch:
    """The labels of a slice of sent transactions: each one's first label, and the revisions of the rows
    `revised` (indices into the slice) with their own delays and values. A label carries its transaction's
    traceparent: one trace from payment to ground truth."""

    time_us: npt.NDArray[np.int64]
    label_delay_us: npt.NDArray[np.int64]
    customer: npt.NDArray[np.int64]
    position: npt.NDArray[np.int64]
    value: np.ndarray
    trace: npt.NDArray[np.bytes_]
    revised: npt.NDArray[np.int64]
    revision_delay_us: npt.NDArray[np.int64]
    revision_value: np.ndarray


class LabelSchedule:
    """Labels waiting for their label time, released in (label_time, position) order.

    Rows are added in runs whose positions all follow the previous runs' (within a run, in any order) and
    kept as runs sorted by that key; `due(now)` takes every row
    with label_time <= now. The order of the released rows does not depend on how adds and releases were
    batched, which is what makes the labels topic identical at any rate. Runs merge like timsort's (each
    kept larger than twice the next), so a row is copied O(log n) times however long its delay.

    >>> s = LabelSchedule()
    >>> s.add(np.array([50, 10, 30]), np.array([0, 1, 2]))
    >>> s.due(30)["position"].tolist(), len(s)
    ([1, 2], 1)
    >>> s.add(np.array([40]), np.array([3]))
    >>> s.drain()["label_time"].tolist()
    [40, 50]
    """

    def __init__(self) -> None:
        self._runs: list[Columns] = []

    def __len__(self) -> int:
        return sum(len(run["position"]) for run in self._runs)

    def add(self, label_time: npt.NDArray[np.int64], position: npt.NDArray[np.int64], **columns: np.ndarray) -> None:
        if not len(position):
            return
        run = {"label_time": label_time, "position": position, **columns}
        if np.any(label_time[1:] < label_time[:-1]) or np.any(position[1:] < position[:-1]):
            # by (label time, position): a run may hold a transaction's revision after later positions' labels
            order = np.lexsort((position, label_time))
            run = {name: values[order] for name, values in run.items()}
        self._runs.append(run)
        while len(self._runs) > 1 and len(self._runs[-2]["position"]) <= 2 * len(self._runs[-1]["position"]):
            newer = self._runs.pop()
            self._runs[-1] = _merge([self._runs[-1], newer])

    def add_labels(self, batch: LabelBatch) -> None:
        """Schedule a slice's first labels and revisions in one run: a run is ordered by (label time, position),
        and runs by position, so the release order does not depend on how sends are batched."""
        b, rows = batch, batch.revised
        if not len(rows):
            self.add(b.time_us + b.label_delay_us, b.position, customer=b.customer, value=b.value, trace=b.trace)
            return
        self.add(np.concatenate([b.time_us + b.label_delay_us, b.time_us[rows] + b.revision_delay_us]),
                 np.concatenate([b.position, b.position[rows]]),
                 customer=np.concatenate([b.customer, b.customer[rows]]),
                 value=np.concatenate([b.value, b.revision_value]), trace=np.concatenate([b.trace, b.trace[rows]]))

    def due(self, now_us: int) -> Columns:
        """Remove and return the rows with label_time <= now_us, in (label_time, position) order."""
        taken, kept = [], []
        for run in self._runs:
            k = int(np.searchsorted(run["label_time"], now_us, side="right"))
            if k:
                taken.append({name: values[:k] for name, values in run.items()})
            if k < len(run["position"]):
                kept.append({name: values[k:] for name, values in run.items()} if k else run)
        self._runs = kept
        return _merge(taken) if taken else {}

    def drain(self) -> Columns:
        return self.due(np.iinfo(np.int64).max)


def _merge(runs: list[Columns]) -> Columns:
    """Runs given in position order (older first), each sorted: concatenate, then a stable sort on
    label_time alone restores (label_time, position) order (timsort: linear on a few sorted runs)."""
    if len(runs) == 1:
        return runs[0]
    joined = {name: np.concatenate([run[name] for run in runs]) for name in runs[0]}
    order = np.argsort(joined["label_time"], kind="stable")
    return {name: values[order] for name, values in joined.items()}
