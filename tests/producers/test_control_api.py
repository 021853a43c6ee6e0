"""The producer's control API against the real session broker (issue 18 "Must show"): the rate followed
within 2 s by the producer's own stats, an incident in the labels with its scenario id, 401 without the key,
a loopback-only listener, and a replayed control log giving the same records.

The producer runs as a subprocess; the API is called with urllib and the records are read back with a plain
confluent-kafka consumer (tests.producers.test_produce's `Topics`), nothing of the code under test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from synfinance.schemas.codec import decode
from tests.producers.test_produce import Topics, contract, flat, fresh

KEY = "test-control-key"
EVENTS = 40_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(port: int, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = KEY
         ) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`synfinance ctl ARGS`, the API's command-line client."""
    return subprocess.run([sys.executable, "-m", "synfinance.cli", "ctl", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def wait_until_listening(port: int, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if call(port, "GET", "/healthz", key=None)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the control API did not answer on {port}")


def listeners(port: int) -> list[str]:
    """The local addresses listening on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel gives them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


class Stats:
    """The producer's --json-stats lines, collected as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[dict[str, Any]] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(json.loads(line))

    def first_after(self, elapsed_s: float, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [line for line in list(self.lines) if line["elapsed_s"] >= elapsed_s]
            if later:
                return later[0]
            time.sleep(0.05)
        raise AssertionError(f"no stats line after {elapsed_s} s")


@pytest.fixture(scope="module")
def controlled(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A simulated-time run steered through the API: 1k/s, 5k/s, an incident, then fast to its end."""
    topics = fresh(kafka_bootstrap, "control")
    log = tmp_path_factory.mktemp("control") / "controls.jsonl"
    port, metrics_port = free_port(), free_port()
    env = {**topics.env(), "SYNFIN_CONTROL_API_KEY": KEY}
    command = ["--seed", "5", "--events", str(EVENTS), "--rate", "1000", "--control-port", str(port),
               "--control-log", str(log), "--json-stats", "--metrics-port", str(metrics_port)]
    process = subprocess.Popen([*topics.start(*command).args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    stats, seen = Stats(process), {}
    try:
        wait_until_listening(port, process)
        seen["listeners"] = listeners(port)
        seen["unauthorised"] = call(port, "PUT", "/rate", {"rate": 5000}, key=None)
        seen["wrong key"] = call(port, "PUT", "/rate", {"rate": 5000}, key="nope")
        seen["bad rate"] = call(port, "PUT", "/rate", {"rate": -1})
        seen["before"] = stats.first_after(call(port, "GET", "/status", key=None)[1]["elapsed_s"] + 1.5)
        seen["put"] = call(port, "PUT", "/rate", {"rate": 5000})
        at = call(port, "GET", "/status", key=None)[1]["elapsed_s"]
        seen["after"] = [stats.first_after(at + 1.0), stats.first_after(at + 2.0)]
        seen["incident"] = call(port, "POST", "/incidents", {"kind": "card_testing", "transactions": 200, "rate": 50})
        seen["bad incident"] = call(port, "POST", "/incidents", {"kind": "nonsense", "transactions": 5, "rate": 1})
        seen["pause"] = call(port, "POST", "/pause")
        seen["paused"] = call(port, "GET", "/status", key=None)[1]
        seen["pause again"] = call(port, "POST", "/pause")
        time.sleep(0.5)
        seen["still paused"] = call(port, "GET", "/status", key=None)[1]
        seen["resume"] = call(port, "POST", "/resume")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            seen["metrics"] = response.read().decode()
        seen["ctl status"] = ctl(env, "status", "--port", str(port))
        seen["ctl without key"] = ctl({k: v for k, v in env.items() if k != "SYNFIN_CONTROL_API_KEY"},
                                      "rate", "9000", "--port", str(port))
        seen["ctl bad profile"] = ctl(env, "profile", "sideways:3", "--port", str(port))
        seen["fast"] = ctl(env, "profile", "max", "--port", str(port))
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    return {"topics": topics, "log": log, "seen": seen}


@pytest.mark.integration
def test_the_rate_follows_a_put_within_two_seconds_by_the_producers_own_stats(controlled: dict[str, Any]) -> None:
    seen = controlled["seen"]
    assert seen["before"]["target_rate"] == pytest.approx(1000)
    assert seen["before"]["achieved_rate"] == pytest.approx(1000, rel=0.05)
    status, answer = seen["put"]
    assert status == 200 and answer["profile"] == "constant:5000" and answer["position"] > 0
    for line in seen["after"]:  # the stats lines 1 and 2 s after the change
        assert line["target_rate"] == pytest.approx(5000)
        assert line["achieved_rate"] == pytest.approx(5000, rel=0.05)


@pytest.mark.integration
def test_changes_need_the_key_and_bad_ones_get_a_one_line_reason(controlled: dict[str, Any]) -> None:
    seen = controlled["seen"]
    for name in ("unauthorised", "wrong key"):
        status, body = seen[name]
        assert status == 401 and "X-API-Key" in body["error"]
    assert seen["bad rate"][0] == 422 and "rate" in seen["bad rate"][1]["error"]
    assert seen["bad incident"][0] == 400 and "incident kind 'nonsense'" in seen["bad incident"][1]["error"]
    assert seen["pause again"] == (409, {"error": "the run is already paused"})
    assert all("\n" not in body.get("error", "") for _, body in (seen["unauthorised"], seen["bad incident"]))


@pytest.mark.integration
def test_the_ctl_client_prints_the_answer_and_refusals_are_one_line_exit_2(controlled: dict[str, Any]) -> None:
    seen = controlled["seen"]
    status = seen["ctl status"]
    assert status.returncode == 0 and json.loads(status.stdout)["profile"] == "constant:5000"
    fast = seen["fast"]
    assert fast.returncode == 0 and json.loads(fast.stdout)["profile"] == "max"
    for name, reason in (("ctl without key", "set SYNFIN_CONTROL_API_KEY"), ("ctl bad profile", "refused (400)")):
        refused = seen[name]
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert refused.stderr.count("\n") == 1 and reason in refused.stderr, refused.stderr


@pytest.mark.integration
def test_the_api_listens_on_loopback_only(controlled: dict[str, Any]) -> None:
    assert controlled["seen"]["listeners"] == ["0100007F"]  # 127.0.0.1, and nothing on tcp6


@pytest.mark.integration
def test_a_pause_holds_the_stream_and_is_counted(controlled: dict[str, Any]) -> None:
    seen = controlled["seen"]
    assert seen["paused"]["paused"] is True
    assert seen["still paused"]["position"] == seen["paused"]["position"]  # nothing sent while paused
    assert seen["resume"][0] == 200 and seen["resume"][1]["paused_s"] >= 0.5
    metrics = seen["metrics"]
    assert 'synfin_control_changes_total{action="profile"} 1.0' in metrics
    assert 'synfin_control_changes_total{action="incident"} 1.0' in metrics


@pytest.mark.integration
def test_an_incident_is_in_the_labels_with_its_scenario_id(controlled: dict[str, Any]) -> None:
    status, answer = controlled["seen"]["incident"]
    assert status == 200
    topics: Topics = controlled["topics"]
    labels = [decode(value) for _, value, _, _ in flat(topics.read("labels"))]
    ours = [label for label in labels if label["scenario_id"] == answer["scenario_id"]]
    assert len({label["transaction_id"] for label in ours}) == 200
    assert {label["fraud_type"] for label in ours} == {"card_testing"} and all(label["is_fraud"] for label in ours)
    transactions = list(flat(topics.read("transactions")))
    assert len(transactions) == EVENTS + 200
    assert {label["transaction_id"] for label in ours} <= {decode(v)["transaction_id"] for _, v, _, _ in transactions}


@pytest.mark.integration
def test_a_run_replaying_the_control_log_sends_the_same_records(controlled: dict[str, Any], kafka_bootstrap: str
                                                                ) -> None:
    log: Path = controlled["log"]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e.get("action") for e in entries[1:]] == ["profile", "incident", "pause", "resume", "profile"]
    replay = fresh(kafka_bootstrap, "replay")
    replay.produce("--seed", "5", "--events", str(EVENTS), "--profile", "max", "--replay-controls", str(log))
    original: Topics = controlled["topics"]
    for kind in ("customers", "merchants", "transactions", "labels"):
        assert contract(replay.read(kind)) == contract(original.read(kind)), kind
