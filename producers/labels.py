"""When ground truth arrives: the label delay of every transaction (SPEC §4).

`default`: legitimate (and anomalous) transactions are confirmed 1-6 hours after the event, as
settlement completes; frauds are reported within hours (lognormal, median 4 h, clipped to
5 minutes..14 days), except each type's chargeback share, which arrives as a dispute 30-90 days later.
`0` (or `immediate`): every label at its transaction's event time. A number: that many seconds for all.

>>> LabelDelays.parse("0").legit(np.array([0.3])).tolist()
[0]
>>> 3_600_000_000 <= int(LabelDelays.parse("default").legit(np.array([0.0]))[0]) < 6 * 3_600_000_000
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producers.scenarios.catalogue import SPEC_BY_NAME

MINUTE_US, HOUR_US, DAY_US = 60_000_000, 3_600_000_000, 86_400_000_000


@dataclass(frozen=True)
class LabelDelays:
    mode: str = "default"
    fixed_us: int = 0

    @classmethod
    def parse(cls, text: str) -> LabelDelays:
        if text == "default":
            return cls("default")
        if text in ("0", "immediate"):
            return cls("fixed", 0)
        try:
            seconds = float(text)
        except ValueError:
            expected = "expected 'default', 'immediate' or seconds (e.g. 3600)"
            raise ValueError(f"--label-delay {text!r}: {expected}") from None
        if seconds < 0:
            raise ValueError("--label-delay must be >= 0 seconds")
        return cls("fixed", int(seconds * 1_000_000))

    @property
    def max_us(self) -> int:
        """The longest possible delay (how long pending features must be kept)."""
        return 90 * DAY_US if self.mode == "default" else self.fixed_us

    def legit(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        if self.mode != "default":
            return np.full(len(u), self.fixed_us, dtype=np.int64)
        return (HOUR_US + u * 5 * HOUR_US).astype(np.int64)

    def fraud(self, name: str, rng: np.random.Generator) -> int:
        if self.mode != "default":
            return self.fixed_us
        a, b, c = rng.random(3)
        if a < SPEC_BY_NAME[name].chargeback_share:
            return int((30 + 60 * b) * DAY_US)
        z = np.sqrt(-2.0 * np.log1p(-b)) * np.cos(2.0 * np.pi * c)
        # min/max, not np.clip: the same value for one float (NaN included), without a ufunc call per label
        return int(min(max(4 * HOUR_US * np.exp(1.0 * z), 5 * MINUTE_US), 14 * DAY_US))
