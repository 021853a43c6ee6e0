"""The CLI syntax of rate profiles (`producers.rates`): `parse_profile` reads `constant:5000`,
`ramp:1000:50000:60`, ... and `build_profile` the `--profile NAME --rate R` form; both raise one-line
`InvalidInput` errors for bad input, and `str(profile)` writes the syntax back.
"""

from __future__ import annotations

import math

from synfinance.common.errors import InvalidInput
from synfinance.producers.rates import Burst, Constant, Diurnal, Max, Poisson, Profile, Ramp, ReplaySpeed, Step

# each profile's CLI syntax (rates in events/s, times in seconds); `synfinance produce --help` lists them
PROFILE_SYNTAX: dict[str, str] = {
    "constant": "constant:RATE (e.g. constant:5000)",
    "poisson": "poisson:RATE (e.g. poisson:5000)",
    "ramp": "ramp:FROM:TO:OVER_S (e.g. ramp:1000:50000:60)",
    "step": "step:DURATION_SxRATE,... (e.g. step:10x1000,20x5000)",
    "burst": "burst:BASE:PEAK:EVERY_S:FOR_S (e.g. burst:1000:20000:60:5)",
    "diurnal": "diurnal:PEAK:TROUGH[:PEAK_HOUR] (e.g. diurnal:20000:500)",
    "replay-speed": "replay-speed:FACTOR (e.g. replay-speed:60)",
    "max": "max (no parameters: as fast as the broker takes them)",
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILE_SYNTAX)


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
    if name not in PROFILE_SYNTAX:
        raise InvalidInput(f"unknown rate profile {text!r}: expected one of {', '.join(PROFILE_NAMES)}")
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
        raise InvalidInput(f"bad rate profile {text!r}: {error}; syntax {PROFILE_SYNTAX[name]}") from None


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
        raise InvalidInput(f"--rate must be > 0 events/s, got {rate:g}")
    key = name.strip().lower()
    if ":" in key or key == "max":
        if rate is not None or params:
            raise InvalidInput(f"--profile {name} already says its rate; drop --rate and the parameters")
        return parse_profile(name)
    if key not in PROFILE_SYNTAX:
        raise InvalidInput(f"unknown rate profile {name!r}: expected one of {', '.join(PROFILE_NAMES)}")
    if params:
        if rate is not None:
            raise InvalidInput(f"give either --rate or parameters for --profile {key}, not both")
        return parse_profile(f"{key}:{params}")
    if rate is None:
        raise InvalidInput(f"--profile {key} needs parameters: {PROFILE_SYNTAX[key]}")
    if key == "constant":
        return Constant(rate)
    if key == "poisson":
        return Poisson(rate)
    raise InvalidInput(f"--rate does not apply to --profile {key}; give its parameters: {PROFILE_SYNTAX[key]}")
