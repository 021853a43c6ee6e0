"""Rate profiles (`producers.rates`, their syntax `producers.profile_syntax`) and the Pacer
(`producers.pacing`), on a fake clock: simulated seconds, no real sleeping."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from synfinance.common.errors import InvalidInput, SynfinError
from synfinance.producers import pacing, profile_syntax, rates
from synfinance.producers.pacing import Pacer
from synfinance.producers.profile_syntax import PROFILE_NAMES, build_profile, parse_profile
from synfinance.producers.rates import (
    Burst,
    Constant,
    Diurnal,
    Max,
    Poisson,
    Profile,
    Ramp,
    ReplaySpeed,
    Step,
)

# 2024-01-01 00:00:00 IST in µs since the epoch (IST = UTC+05:30)
MIDNIGHT_IST_US = (1_704_067_200 - 19_800) * 1_000_000
HOUR_US = 3_600_000_000


class FakeClock:
    """A monotonic clock that only moves when someone sleeps or works."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def paced(profile: Profile, clock: FakeClock, **kwargs: object) -> Pacer:
    return Pacer(profile, clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def run(pacer: Pacer, clock: FakeClock, seconds: float, work_fraction: float = 0.0,
        ) -> list[tuple[float, int]]:
    """Release batches until `seconds`; returns (release time, batch size). `work_fraction` of each
    batch's scheduled duration is spent "producing" after the release, as a real producer would."""
    releases = []
    while clock.now < seconds:
        n = pacer.suggest_batch_size()
        pacer.acquire(n)
        releases.append((clock.now, n))
        if work_fraction:
            clock.now += work_fraction * n / pacer.profile.rate_at(clock.now)
    return releases


def released_by(releases: list[tuple[float, int]], t: float) -> int:
    return sum(n for when, n in releases if when <= t)


# -- profiles ------------------------------------------------------------------------------------------

def test_doctests_run() -> None:
    profiles, syntax = doctest.testmod(rates), doctest.testmod(profile_syntax)
    assert profiles.failed == syntax.failed == 0
    assert profiles.attempted + syntax.attempted >= 25
    result = doctest.testmod(pacing)
    assert result.failed == 0
    assert result.attempted >= 5


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (Constant(5000), {0: 5000, 1e6: 5000}),
        (Poisson(5000), {0: 5000, 33.3: 5000}),
        (Ramp(1000, 50000, 60), {0: 1000, 15: 13250, 30: 25500, 60: 50000, 61: 50000, 1e5: 50000}),
        (Ramp(5000, 1000, 10), {0: 5000, 5: 3000, 10: 1000, 20: 1000}),
        (Step([(10, 1000), (20, 5000)]), {0: 1000, 9.999: 1000, 10: 5000, 29.999: 5000, 30: 5000, 1e4: 5000}),
        (Burst(1000, 20000, 60, 5), {0: 1000, 4: 1000, 59.9: 1000, 60: 20000, 64.9: 20000, 65: 1000,
                                     119: 1000, 120: 20000, 124: 20000, 125.5: 1000, 6000: 20000}),
        (Max(), {0: math.inf, 100: math.inf}),
    ],
    ids=str,
)
def test_rate_at(profile: Profile, expected: dict[float, float]) -> None:
    for t, rate in expected.items():
        assert profile.rate_at(t) == pytest.approx(rate), t


def test_diurnal_follows_simulated_hour_of_day_ist() -> None:
    profile = Diurnal(20000, 500)
    assert profile.rate_at(15) == 20000
    assert profile.rate_at(3) == pytest.approx(500)
    assert profile.rate_at(9) == pytest.approx(10250)
    assert profile.rate_at(21) == pytest.approx(10250)
    # the event time's IST hour decides, not the wall clock: 15:00 IST on any day is the peak
    for day in (0, 1, 200):
        at_peak = MIDNIGHT_IST_US + day * 24 * HOUR_US + 15 * HOUR_US
        assert profile.rate_for_event(at_peak) == pytest.approx(20000)
        assert profile.rate_for_event(at_peak + 12 * HOUR_US) == pytest.approx(500)
    hours = np.arange(24)
    vectorised = profile.rates_for_events(MIDNIGHT_IST_US + hours * HOUR_US)
    assert vectorised == pytest.approx([profile.rate_at(h) for h in hours])
    assert Diurnal(100, 10, peak_hour=20).rate_at(20) == 100


def test_replay_speed_due_times_and_max_have_no_rate() -> None:
    profile = ReplaySpeed(60)
    assert profile.due_at(HOUR_US, 0) == 60.0
    assert math.isnan(profile.rate_at(5))


@pytest.mark.parametrize(
    ("profile", "t", "count"),
    [
        (Ramp(1000, 5000, 60), 60, 180_000),
        (Ramp(1000, 5000, 60), 70, 230_000),
        (Step([(10, 1000), (20, 5000)]), 30, 110_000),
        (Step([(10, 1000), (20, 5000)]), 40, 160_000),
        (Burst(1000, 20000, 60, 5), 130, 130_000 + 2 * 5 * 19_000),
        (Burst(1000, 20000, 60, 5), 62, 62_000 + 2 * 19_000),
    ],
    ids=str,
)
def test_events_by_is_the_exact_integral(profile: Profile, t: float, count: float) -> None:
    assert profile.events_by(t) == pytest.approx(count)  # type: ignore[union-attr]


# -- pacer ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("work_fraction", [0.0, 0.6])
def test_constant_rate_every_10s_window_within_1_percent(rate: int, work_fraction: float) -> None:
    clock = FakeClock()
    pacer = paced(Constant(rate), clock)
    releases = run(pacer, clock, 60.0, work_fraction)
    windows = [0] * 6
    for when, n in releases:
        if when < 60:
            windows[int(when // 10)] += n
    for window, count in enumerate(windows):
        assert count == pytest.approx(rate * 10, rel=0.01), f"window {window}: {count}"
    assert pacer.achieved_rate() == pytest.approx(rate, rel=0.01)
    assert pacer.target_rate() == pytest.approx(rate)


@pytest.mark.parametrize(("rate", "batch"), [(0.5, 1), (1, 1), (100, 1), (1_000, 2), (100_000, 200),
                                             (10_000_000, pacing.MAX_BATCH)])
def test_suggested_batch_is_a_couple_of_milliseconds(rate: float, batch: int) -> None:
    assert Pacer(Constant(rate)).suggest_batch_size() == batch


def test_one_event_per_second_is_sent_one_at_a_time_on_the_second() -> None:
    clock = FakeClock()
    pacer = paced(Constant(1), clock)
    releases = run(pacer, clock, 10.0)
    assert [n for _, n in releases] == [1] * 11
    assert [when for when, _ in releases] == pytest.approx(range(11), abs=1e-6)


@pytest.mark.parametrize(
    ("profile", "checkpoints"),
    [
        (Ramp(1000, 50000, 60), [10, 30, 60, 75]),
        (Ramp(50000, 1000, 20), [5, 20, 30]),
        (Ramp(0, 10000, 10), [1, 10, 12]),
        (Step([(10, 1000), (20, 5000), (5, 0), (5, 20000)]), [10, 30, 35, 40, 45]),
        (Burst(1000, 20000, 60, 5), [59, 62, 65, 120, 125, 130]),
        (Burst(0, 5000, 10, 1), [9.5, 10.5, 11, 20.9, 25]),
    ],
    ids=str,
)
def test_profile_schedules_integrate_to_exact_counts(profile: Profile, checkpoints: list[float]) -> None:
    clock = FakeClock()
    pacer = paced(profile, clock)
    releases = run(pacer, clock, max(checkpoints) + 1)
    biggest_batch = max(n for _, n in releases)
    for t in checkpoints:
        expected = profile.events_by(t)  # type: ignore[union-attr]
        # behind by at most the batch in hand, never ahead of the schedule
        assert -biggest_batch - 1 <= released_by(releases, t) - expected <= 1, t


def test_ramp_achieved_matches_window_average_target() -> None:
    clock = FakeClock()
    pacer = paced(Ramp(1000, 5000, 60), clock)
    run(pacer, clock, 30.0)
    # the window [20, 30] asks for the rate at its middle (25 s): 1000 + 4000 * 25 / 60
    assert pacer.target_rate() == pytest.approx(1000 + 4000 * 25 / 60, rel=1e-3)
    assert pacer.achieved_rate() == pytest.approx(pacer.target_rate(), rel=0.01)


def test_falling_behind_is_caught_up_not_forgotten() -> None:
    clock = FakeClock()
    pacer = paced(Constant(1000), clock)
    run(pacer, clock, 5.0)
    clock.now += 2.0  # a stall (GC, broker hiccup): the schedule keeps running
    releases = run(pacer, clock, 20.0)
    assert pacer.released == pytest.approx(20_000, abs=2)
    # the backlog goes out at once, in one batch, then the rate is back to normal-sized batches
    assert releases[0][0] == pytest.approx(7.0, abs=0.002) and releases[0][1] == pytest.approx(2_000, abs=3)
    assert {n for _, n in releases[1:]} == {2}


def test_backlog_batches_are_capped() -> None:
    clock = FakeClock()
    pacer = paced(Constant(100_000), clock)
    pacer.acquire(1)
    clock.now += 1.0  # 100,000 events behind
    assert pacer.suggest_batch_size() == pacing.MAX_BATCH


def test_replay_speed_releases_each_event_at_its_scaled_event_time() -> None:
    rng = np.random.default_rng(3)
    times = MIDNIGHT_IST_US + np.cumsum(rng.integers(0, 5_000_000, 2_000))
    clock = FakeClock()
    pacer = paced(ReplaySpeed(60), clock)
    for i, event_time in enumerate(times):
        pacer.acquire(1, times[i : i + 1])
        assert clock.now == pytest.approx((event_time - times[0]) / 1e6 / 60, abs=1e-9)
    assert pacer.target_rate() is None

    clock, pacer = FakeClock(), None
    pacer = paced(ReplaySpeed(60), clock)
    for start in range(0, len(times), 7):  # batches: released when their last event is due
        batch = times[start : start + 7]
        pacer.acquire(len(batch), batch)
        assert clock.now == pytest.approx((batch[-1] - times[0]) / 1e6 / 60, abs=1e-9)


def test_poisson_mean_rate_and_determinism() -> None:
    def release_times(seed: int, events: int, batch: int) -> np.ndarray:
        clock = FakeClock()
        pacer = paced(Poisson(1000), clock, rng=np.random.default_rng(seed))
        out = np.empty(events // batch)
        for i in range(len(out)):
            pacer.acquire(batch)
            out[i] = clock.now
        return out

    times = release_times(42, 100_000, 10)  # batch i is released when its last event, 10 i + 9, is due
    assert (len(times) * 10 - 1) / times[-1] == pytest.approx(1000, rel=0.02)
    assert np.array_equal(times, release_times(42, 100_000, 10))
    assert not np.array_equal(times, release_times(43, 100_000, 10))
    gaps = np.diff(release_times(42, 20_000, 1))
    assert gaps.mean() == pytest.approx(1 / 1000, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential, not evenly spaced


def test_poisson_in_batches_keeps_its_mean_rate_per_window() -> None:
    clock = FakeClock()
    pacer = paced(Poisson(100_000), clock, rng=np.random.default_rng(1))
    releases = run(pacer, clock, 30.0)
    for start in (0, 10):
        count = released_by(releases, start + 10) - released_by(releases, start)
        assert count == pytest.approx(1_000_000, rel=0.01)


def test_poisson_pacer_needs_a_seeded_generator() -> None:
    with pytest.raises(ValueError, match="rng"):
        Pacer(Poisson(10))


def test_diurnal_paces_by_the_events_simulated_hour() -> None:
    profile = Diurnal(20000, 500)
    for hour, rate in ((15, 20000), (3, 500)):
        clock = FakeClock()
        pacer = paced(profile, clock)
        first = MIDNIGHT_IST_US + hour * HOUR_US
        sent = 0
        while clock.now < 10.0:
            n = pacer.suggest_batch_size()
            # simulated time barely moves (1 µs per event), so every event sits at `hour`
            pacer.acquire(n, first + np.arange(sent, sent + n))
            sent += n
        assert sent == pytest.approx(rate * 10, rel=0.01)
        assert pacer.target_rate() == pytest.approx(rate)
    with pytest.raises(ValueError, match="event times"):
        paced(profile, FakeClock()).acquire(3)


def test_max_never_sleeps() -> None:
    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}")

    pacer = Pacer(Max(), clock=FakeClock(), sleep=no_sleep)
    for _ in range(100):
        pacer.acquire(pacer.suggest_batch_size())
    assert pacer.released == 100 * pacing.MAX_BATCH
    assert pacer.target_rate() is None


# -- parsing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "profile"),
    [
        ("constant:5000", Constant(5000)),
        ("poisson:5000", Poisson(5000)),
        ("ramp:1000:50000:60", Ramp(1000, 50000, 60)),
        ("ramp:0:2.5:0.5", Ramp(0, 2.5, 0.5)),
        ("step:10x1000,20x5000", Step([(10, 1000), (20, 5000)])),
        ("burst:1000:20000:60:5", Burst(1000, 20000, 60, 5)),
        ("diurnal:20000:500", Diurnal(20000, 500)),
        ("diurnal:20000:500:20", Diurnal(20000, 500, 20)),
        ("replay-speed:60", ReplaySpeed(60)),
        ("max", Max()),
    ],
)
def test_parse_round_trips(text: str, profile: Profile) -> None:
    assert parse_profile(text) == profile
    assert str(profile) == text
    assert parse_profile(str(parse_profile(text))) == profile


@pytest.mark.parametrize(
    "text",
    ["constant:0", "constant:-5", "constant:abc", "constant", "constant:1:2", "constant:inf", "poisson:nan",
     "ramp:1:2", "ramp:1000:0:60", "ramp:1:2:0", "nope", "", "step:", "step", "step:10x", "step:10",
     "step:0x100", "step:10x100,5x0", "burst:1000:500:60:5", "burst:1000:20000:5:60", "burst:1:2:3",
     "diurnal:500:20000", "diurnal:1", "diurnal:2:1:24", "replay-speed:0", "replay-speed", "max:5"],
)
def test_parse_rejects_bad_input_with_one_line(text: str) -> None:
    with pytest.raises(SynfinError) as caught:
        parse_profile(text)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(text) in message


def test_unknown_profile_lists_the_valid_names() -> None:
    with pytest.raises(SynfinError) as caught:
        parse_profile("nope:1")
    assert all(name in str(caught.value) for name in PROFILE_NAMES)


def test_build_profile_from_name_rate_and_params() -> None:
    assert build_profile("constant", 5000, None) == Constant(5000)
    assert build_profile("Poisson", 250.5, None) == Poisson(250.5)
    assert build_profile("ramp", None, "1000:50000:60") == Ramp(1000, 50000, 60)
    assert build_profile("step:10x1000,20x5000", None, None) == Step([(10, 1000), (20, 5000)])
    assert build_profile("max", None, None) == Max()
    assert build_profile("constant", None, "7") == Constant(7)


@pytest.mark.parametrize(
    ("name", "rate", "params", "fragment"),
    [
        ("constant", 0, None, "--rate must be > 0"),
        ("constant", -3, None, "--rate must be > 0"),
        ("poisson", math.nan, None, "--rate must be > 0"),
        ("wobble", 100, None, "constant, poisson, ramp, step, burst, diurnal, replay-speed, max"),
        ("constant", None, None, "needs parameters"),
        ("ramp", 1000, None, "--rate does not apply"),
        ("ramp", 1000, "1:2:3", "not both"),
        ("max", 1000, None, "drop --rate"),
        ("ramp", None, "1:2", "expected 3 numbers"),
    ],
)
def test_build_profile_rejects(name: str, rate: float | None, params: str | None, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as caught:
        build_profile(name, rate, params)
    assert "\n" not in str(caught.value)
