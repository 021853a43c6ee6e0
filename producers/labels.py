"""When ground truth arrives, as a bank learns it: a first label, and for some frauds a revision (SPEC §4).

`default`: every transaction's first label (revision 0) arrives after a delay drawn from ONE distribution
whatever its class — log-logistic, median 6 h, clipped to 10 minutes..7 days: the victim's report or the
bank's review for a fraud that is caught, the close of the maturity window for everything else. So a
transaction still unlabelled at any age is no more likely to be fraud than any other. A fraud the victim
does not report (its type's `chargeback_share`) is first labelled legitimate like the rest, then revised
(revision 1, the fraud truth) by a chargeback 30-90 days after the event.
`0` (or `immediate`): every label at its transaction's event time, final at once. A number: that many
seconds for all, final at once.

>>> LabelDelays.parse("0").first(np.array([0.3])).tolist()
[0]
>>> d = LabelDelays.parse("default")
>>> 10 * MINUTE_US <= int(d.first(np.array([0.001]))[0]) < int(d.first(np.array([0.5]))[0]) == 6 * HOUR_US
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.common.label_delays import CHARGEBACK_MAX_DAYS, CHARGEBACK_MIN_DAYS, MAX_LABEL_DELAY_US
from synfinance.common.units import DAY_US, HOUR_US, MINUTE_US
from synfinance.producers.scenarios.specs import SPEC_BY_NAME

FIRST_MEDIAN_US, FIRST_SHAPE = 6 * HOUR_US, 1.5   # log-logistic: a quarter within ~2.9 h, 90% within ~2.6 days
FIRST_MIN_US, FIRST_MAX_US = 10 * MINUTE_US, 7 * DAY_US


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
        """The longest possible delay of any label, revisions included (how long pending features are kept)."""
        return MAX_LABEL_DELAY_US if self.mode == "default" else self.fixed_us

    def first(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """First-label delays from uniforms: the same distribution for every class."""
        if self.mode != "default":
            return np.full(len(u), self.fixed_us, dtype=np.int64)
        odds = np.clip(u, 1e-12, 1.0 - 1e-12) / np.clip(1.0 - u, 1e-12, 1.0)
        delay = FIRST_MEDIAN_US * odds ** (1.0 / FIRST_SHAPE)
        return np.clip(delay, FIRST_MIN_US, FIRST_MAX_US).astype(np.int64)

    def fraud(self, name: str, rng: np.random.Generator) -> tuple[int, int]:
        """(first-label delay, revision delay or -1) of one fraudulent transaction of type `name`."""
        if self.mode != "default":
            return self.fixed_us, -1
        a, b, c = rng.random(3).tolist()
        # first() for one value, in plain floats (a numpy call per fraud row costs more than the arithmetic)
        odds = min(max(c, 1e-12), 1.0 - 1e-12) / max(1.0 - c, 1e-12)
        first = int(min(max(FIRST_MEDIAN_US * odds ** (1.0 / FIRST_SHAPE), FIRST_MIN_US), FIRST_MAX_US))
        if a < SPEC_BY_NAME[name].chargeback_share:
            return first, max(int((CHARGEBACK_MIN_DAYS + (CHARGEBACK_MAX_DAYS - CHARGEBACK_MIN_DAYS) * b) * DAY_US),
                              first + 1)
        return first, -1
