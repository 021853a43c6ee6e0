"""End-to-end latency: only live records count, both stages export the one histogram name, and a live pipeline
observes each scored record and each committed message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from synfinance.common.e2e import E2E_METRIC, LIVE_WINDOW_S, is_live, live_delays
from synfinance.common.settings import TopicNames
from synfinance.processors.metrics import ProcessorMetrics
from synfinance.sinks.metrics import SinkMetrics
from synfinance.stack.processes import free_port
from tests.sinks.db_support import select


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


def _samples(port: int) -> dict[str, float]:
    """name{sorted labels} -> value of every sample on a component's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {f"{s.name}{sorted(s.labels.items())}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:  # not serving yet, or 503
        return False


def _total(samples: dict[str, float], name: str) -> float:
    return sum(value for key, value in samples.items() if key.split("[", 1)[0] == name)


def _our_lag(samples: dict[str, float], run: str) -> float:
    """The lag of this test's two groups (other tests' groups share the broker); infinite until both are
    reported."""
    lags = {key: value for key, value in samples.items()
            if key.startswith("kafka_consumergroup_group_lag[") and f"-{run}'" in key}
    groups = {group for group in (f"e2e-sink-{run}'", f"e2e-proc-{run}'") if any(group in key for key in lags)}
    return sum(lags.values()) if len(groups) == 2 else float("inf")


@pytest.mark.integration
@pytest.mark.parametrize("label_delay", ["0", "default"])
def test_a_live_pipeline_observes_every_scored_and_every_committed_record_once(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, label_delay: str) -> None:
    """With labels at event time, and with the default delays (no label at all for 10 minutes: a live
    transaction must not wait `--max-hold` for one)."""
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
           "SYNFIN_PARTITIONS": "2", **{f"SYNFIN_TOPICS__{field.upper()}": f"e2e-{run}.{field}"
                                        for field in TopicNames.model_fields}}
    schema = f"e2e_{run}"

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "synfinance.cli", *args]

    for args in (["topics", "create"], ["db", "init", "--schema", schema]):
        result = subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    sink_port, processor_port = free_port(), free_port()
    children = [subprocess.Popen(command, env=env, stdout=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115
                                 stderr=subprocess.STDOUT) for name, command in (
        ("sink", cli("sink", "--schema", schema, "--group", f"e2e-sink-{run}", "--metrics-port", str(sink_port))),
        ("processor", cli("process", "--group", f"e2e-proc-{run}", "--web-port", str(processor_port))))]
    try:
        # both consumers assigned (and the processor's replica at the labels' end) before the live stream starts
        deadline = time.monotonic() + 120
        while not (_ready(processor_port) and _ready(sink_port)):
            assert time.monotonic() < deadline, "processor and sink did not get ready"
            time.sleep(0.5)
        produced = subprocess.run(cli("produce", "--time", "live", "--label-delay", label_delay, "--rate", "200",
                                      "--events", "1000", "--customers", "300", "--merchants", "50", "--json-stats"),
                                  env=env, capture_output=True, text=True, timeout=180)
        assert produced.returncode == 0, produced.stderr
        deadline, transactions, rows = time.monotonic() + 240, 0, 0
        while time.monotonic() < deadline:
            try:
                processor, sink = _samples(processor_port), _samples(sink_port)
            except OSError:  # not serving yet
                time.sleep(1.0)
                continue
            (rows,) = select(database_url, schema, "select count(*) from scored_transactions")[0]
            (transactions,) = select(database_url, schema, "select count(*) from transactions")[0]
            if transactions and rows == transactions == _total(processor, "synfin_processed_total") \
                    and not _our_lag(sink, run):
                break
            time.sleep(1.0)
        else:
            pytest.fail(f"the pipeline did not drain: {transactions} transactions, {rows} scored rows; "
                        f"producer: {produced.stdout.strip()[-600:]}")
        time.sleep(2.0)  # one more sink batch interval: its last commit is counted
        processor, sink = _samples(processor_port), _samples(sink_port)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(60)
    scored = processor[f"{E2E_METRIC}_count{[('stage', 'scored')]}"]
    committed = sink[f"{E2E_METRIC}_count{[('stage', 'committed')]}"]
    assert scored == _total(processor, "synfin_processed_total") == transactions == 1000
    assert _total(processor, "synfin_risk_hold_timeouts_total") == 0
    if label_delay == "default":  # before its end the run sent no label: most were scored without one
        assert _total(processor, "synfin_risk_live_releases_total") > transactions / 2
    if label_delay == "0":
        assert committed == _total(sink, "synfin_sink_records_total") > transactions
    else:  # the run's end flushes the labels still pending, stamped days ahead: not live, not observed
        assert transactions * 2 <= committed < _total(sink, "synfin_sink_records_total")
