"""End-to-end latency: only live records count, and both stages export the one histogram name."""

from __future__ import annotations

from synfinance.common.e2e import E2E_METRIC, LIVE_WINDOW_S, is_live, live_delays
from synfinance.processors.metrics import ProcessorMetrics
from synfinance.sinks.metrics import SinkMetrics


def test_live_delays_keep_only_records_near_the_wall_clock() -> None:
    now = 1_800_000_000.0
    stamps = [int((now - 0.25) * 1000), int((now - 2.0) * 1000), int((now - LIVE_WINDOW_S - 1) * 1000), 0]
    assert live_delays(stamps, now).round(3).tolist() == [0.25, 2.0]
    assert live_delays([], now).tolist() == []
    assert is_live(stamps[0], now) and not is_live(stamps[2], now)


def test_processor_and_sink_export_one_name_with_their_stage() -> None:
    processor, sink = ProcessorMetrics(), SinkMetrics()
    processor.e2e.observe(0.3)
    sink.e2e.observe(0.7)
    sink.e2e.observe(1.2)
    assert processor.registry.get_sample_value(f"{E2E_METRIC}_count", {"stage": "scored"}) == 1
    assert sink.registry.get_sample_value(f"{E2E_METRIC}_count", {"stage": "committed"}) == 2
    assert sink.registry.get_sample_value(f"{E2E_METRIC}_bucket", {"stage": "committed", "le": "1.0"}) == 1
