"""Time units and India's clock, in the microseconds every record's time is written in: the one home of each.

>>> DAY_US == 24 * HOUR_US == 1_440 * MINUTE_US, IST_OFFSET_US // SECOND_US
(True, 19800)
"""

from __future__ import annotations

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
IST_OFFSET_S = 5 * 3_600 + 30 * 60  # India Standard Time is UTC+05:30, all year
IST_OFFSET_US = IST_OFFSET_S * SECOND_US
