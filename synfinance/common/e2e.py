"""End-to-end latency of a live stream: the one definition the processor and the sink export.

A record's Kafka timestamp is its event time (the producer sets it; the processor copies it onto its
outputs), so "event time -> now" is how long the pipeline took to get a live transaction this far. It
means something only for a live stream (`--time live`): a replayed or simulated stream's event times are
months away from the wall clock. So only records whose event time is within `LIVE_WINDOW_S` of now are
observed; the others are not latency and are left out.

>>> live_delays([9_999_000, 9_999_500, 1], now_s=10_000.0).tolist()
[1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

E2E_METRIC = "synfin_e2e_latency_seconds"
E2E_HELP = "Live event time to this stage (stage label), for records within an hour of the wall clock."
E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
LIVE_WINDOW_S = 3_600.0


def is_live(timestamp_ms: int, now_s: float) -> bool:
    """Whether a record's event time is within the live window: one check decides for a whole batch, so a
    simulated stream costs no per-record work."""
    return abs(now_s - timestamp_ms / 1000.0) <= LIVE_WINDOW_S


def live_delays(timestamps_ms: Sequence[int], now_s: float) -> np.ndarray:
    """Seconds from each live record's event time to `now_s`; records outside the live window dropped."""
    delays = now_s - np.asarray(timestamps_ms, dtype=np.float64) / 1000.0
    return delays[np.abs(delays) <= LIVE_WINDOW_S]
