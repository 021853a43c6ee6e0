"""The monitoring files name only metrics the components really export, and a real Prometheus scrapes them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from synfinance.stack.paths import INFRA_DIR
from synfinance.stack.processes import free_port

METRIC = re.compile(r"\b(synfin_[a-z0-9_]+|kafka_consumergroup_group_lag(?:_seconds)?)\b")
RULES = INFRA_DIR / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((INFRA_DIR / "grafana" / "dashboards").glob("*.json"))


def referenced_metrics() -> set[str]:
    texts = [RULES.read_text()]
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        texts += [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    names = set()
    for text in texts:
        for name in METRIC.findall(text):
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def test_files_reference_the_metrics_we_expect() -> None:
    names = referenced_metrics()
    assert len(DASHBOARDS) == 3
    assert {"kafka_consumergroup_group_lag", "kafka_consumergroup_group_lag_seconds", "synfin_achieved_rate",
            "synfin_model_roc_auc", "synfin_sink_breaker_state"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_rules_and_config() -> None:
    for args in (["check", "rules", str(RULES)], ["check", "config", str(INFRA_DIR / "prometheus" / "prometheus.yml")]):
        result = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def scrape(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        # a labelled counter has no sample until first incremented: its declaration counts as exported
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        for sample in family.samples:
            names.add(re.sub(r"_(bucket|sum|count|created)$", "", sample.name))
    return names


@pytest.fixture()
def pipeline(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> Iterator[dict[str, int]]:
    """Sink, processor, producer and an evaluator of the processor running against the session stack, each
    serving /metrics."""
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
           "SYNFIN_PARTITIONS": "2"}
    for topic in ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq", "runs"):
        env[f"SYNFIN_TOPICS__{topic.upper()}"] = f"mon-{run}.{topic}"
    schema = f"mon_{run}"

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "synfinance.cli", *args]

    for args in (["topics", "create"], ["db", "init", "--schema", schema]):
        result = subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    ports = {"sink": free_port(), "processor": free_port(), "producer": free_port(), "evaluate": free_port()}
    commands = {
        "sink": cli("sink", "--schema", schema, "--group", f"mon-sink-{run}", "--metrics-port", str(ports["sink"])),
        "processor": cli("process", "--group", f"mon-proc-{run}", "--web-port", str(ports["processor"])),
        "producer": cli("produce", "--customers", "500", "--merchants", "100", "--rate", "300", "--duration", "90",
                        "--quiet", "--metrics-port", str(ports["producer"])),
        # our processor scored as an engine: the fraud dashboard's evaluated-engine panels read its series
        "evaluate": cli("evaluate", "--decisions", env["SYNFIN_TOPICS__SCORED"], "--decisions",
                        env["SYNFIN_TOPICS__ALERTS"], "--group", f"mon-eval-{run}", "--interval", "1",
                        "--metrics-port", str(ports["evaluate"])),
    }
    children = [subprocess.Popen(command, env=env, stdout=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115
                                 stderr=subprocess.STDOUT) for name, command in commands.items()]
    try:
        yield ports
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


def wait_for(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return True
        except OSError:
            pass
        time.sleep(1.0)
    return False


@pytest.mark.integration
def test_every_referenced_metric_is_exported_and_prometheus_scrapes_lag(pipeline: dict[str, int],
                                                                        tmp_path: Path) -> None:
    exported: set[str] = set()

    def all_exported() -> bool:
        exported.clear()
        for port in pipeline.values():
            exported.update(scrape(port))
        return ("kafka_consumergroup_group_lag" in exported and "synfin_processed_total" in exported
                and "synfin_eval_recall" in exported)

    assert wait_for(all_exported, 90), f"components did not serve their metrics; have {sorted(exported)}"
    missing = referenced_metrics() - exported
    assert not missing, f"rules/dashboards name metrics nobody exports: {sorted(missing)}"

    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus (Debian package) not installed: the live Prometheus part was not run")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n" + "".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        for name, port in pipeline.items()))
    port = free_port()
    log = tmp_path / "prometheus.log"
    server = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}"], stdout=open(log, "wb"),  # noqa: SIM115
                              stderr=subprocess.STDOUT)
    try:
        def lag_series() -> bool:
            query = urllib.parse.urlencode({"query": "kafka_consumergroup_group_lag"})
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=5) as response:
                answer = json.loads(response.read())
            return answer["status"] == "success" and len(answer["data"]["result"]) > 0

        targets = f"http://127.0.0.1:{port}/api/v1/targets"
        if not wait_for(lag_series, 60):
            with urllib.request.urlopen(targets, timeout=5) as response:
                health = [(t["labels"]["job"], t["health"], t["lastError"], t["lastScrapeDuration"])
                          for t in json.loads(response.read())["data"]["activeTargets"]]
            pytest.fail(f"Prometheus returned no kafka_consumergroup_group_lag series; targets {health}; "
                        f"log tail {log.read_text()[-1500:]}")
    finally:
        server.terminate()
        server.wait(30)
