"""Structured logs (`synfinance.common.logs`): the JSON formatter's fields, context, exceptions and masking; the
option beats the setting; and `produce`, `process` and `sink` run with `--log-format json` write nothing but
JSON objects on stderr, each naming its component, with context and without the database password."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from synfinance.cli import main
from synfinance.common import logs
from synfinance.common.errors import InvalidInput
from synfinance.common.kafka_logging import ClientLog

REQUIRED = ("time", "level", "component", "logger", "message")
ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(message: str, *args: object, level: int = logging.INFO, exc_info: object = None,
           **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("synfinance.sink", level, __file__, 10, message, args, exc_info)  # type: ignore[arg-type]
    made.__dict__.update(extra)
    return made


def as_json(made: logging.LogRecord, component: str = "sink") -> dict[str, object]:
    line = logs.JsonLines(component).format(made)
    assert "\n" not in line
    return json.loads(line)


def test_a_record_is_one_object_with_the_required_fields() -> None:
    entry = as_json(record("stopped: %d records", 12, level=logging.WARNING))
    assert list(entry)[:5] == list(REQUIRED)
    assert ISO_UTC_MS.fullmatch(str(entry["time"])), entry["time"]
    assert (entry["level"], entry["component"], entry["logger"], entry["message"]) == (
        "warning", "sink", "synfinance.sink", "stopped: 12 records")


def test_extra_context_is_kept_with_its_types_and_cannot_hide_a_required_field() -> None:
    entry = as_json(record("assigned", topic="synfin.transactions.v1", partition=3, offsets={"t[0]": 17},
                           records=2000, ratio=0.5, stopped=True, level_name=None, component="spoofed"))
    assert entry["topic"] == "synfin.transactions.v1" and entry["partition"] == 3
    assert entry["offsets"] == {"t[0]": 17} and entry["records"] == 2000 and entry["ratio"] == 0.5
    assert entry["stopped"] is True and entry["level_name"] is None
    assert entry["component"] == "sink"


def test_an_exception_is_one_string_field() -> None:
    try:
        raise ValueError("no such partition")
    except ValueError:
        entry = as_json(record("sink writer failed", level=logging.ERROR, exc_info=sys.exc_info()))
    assert isinstance(entry["exception"], str)
    assert entry["exception"].startswith("Traceback") and "ValueError: no such partition" in entry["exception"]


def test_secrets_are_masked_in_the_message_the_exception_and_the_context() -> None:
    url = "postgresql://synfin:hunter2@127.0.0.1:5432/synfin"
    try:
        raise RuntimeError(f"could not connect to {url}")
    except RuntimeError:
        entry = as_json(record("database %s unreachable (dsn host=db password=hunter2)", url, exc_info=sys.exc_info(),
                               sasl_password="hunter2", api_key="hunter2", token=SecretStr("hunter2"),
                               config={"sasl.password": "hunter2", "bootstrap.servers": "b:9092"},
                               registry="https://user:hunter2@registry:8081/apis"))
    line = json.dumps(entry)
    assert "hunter2" not in line
    assert entry["message"] == ("database postgresql://synfin:**********@127.0.0.1:5432/synfin unreachable "
                                "(dsn host=db password=**********)")
    assert entry["config"] == {"sasl.password": "**********", "bootstrap.servers": "b:9092"}
    assert entry["registry"] == "https://user:**********@registry:8081/apis"
    assert entry["sasl_password"] == entry["token"] == "**********"


def test_a_url_without_a_password_is_left_alone() -> None:
    assert logs.mask("postgresql://synfin@127.0.0.1:5432/synfin") == "postgresql://synfin@127.0.0.1:5432/synfin"
    assert logs.mask("http://127.0.0.1:8081/apis") == "http://127.0.0.1:8081/apis"


def test_the_text_format_masks_too() -> None:
    line = logs.TextLines().format(record("to %s", "postgresql://u:hunter2@h/db"))
    assert line.endswith("INFO synfinance.sink: to postgresql://u:**********@h/db")


def test_the_option_overrides_the_setting_and_a_bad_value_is_a_usage_error() -> None:
    assert logs.chosen_format(None, "json") == "json"
    assert logs.chosen_format("text", "json") == "text"
    assert logs.chosen_format("JSON", "text") == "json"
    with pytest.raises(InvalidInput, match=r"^--log-format 'xml': expected text or json$"):
        logs.chosen_format("xml", "text")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, state = root.handlers[:], root.level, dict(logs._state)
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    logs._state.update(state)
    sys.excepthook, threading.excepthook = hooks


def test_configure_routes_logs_warnings_and_announcements_to_json_on_stderr(
        restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("warning", "json", "process")
    logging.getLogger("faust.worker").info("below the level: not shown")
    logging.getLogger("synfinance.kafka").warning("kafka FAIL: refused", extra={"facility": "FAIL"})
    warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    logs.announce(logging.getLogger("synfinance.process"), "process: scored 3 transactions", scored=3)
    logs.error_line("Kafka broker at x:1 is unreachable")
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["level"]) for e in entries] == [
        ("synfinance.kafka", "warning"), ("py.warnings", "warning"), ("synfinance.process", "info"),
        ("synfinance", "error")]
    assert {e["component"] for e in entries} == {"process"}
    assert entries[0]["facility"] == "FAIL" and "an old API" in entries[1]["message"]
    assert entries[2]["scored"] == 3 and entries[3]["message"] == "Kafka broker at x:1 is unreachable"


def test_an_uncaught_exception_is_one_record_in_json_mode(
        restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("warning", "json", "sink")
    try:
        raise KeyError("transaction_id")
    except KeyError as error:
        sys.excepthook(KeyError, error, error.__traceback__)
    thread = threading.Thread(target=lambda: 1 / 0, name="writer-1")
    thread.start()
    thread.join()
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["level"], e["message"]) for e in entries] == [
        ("critical", "uncaught KeyError: 'transaction_id'"),
        ("critical", "uncaught ZeroDivisionError in thread writer-1: division by zero")]
    assert all("Traceback" in str(e["exception"]) for e in entries) and entries[1]["thread_name"] == "writer-1"


def test_text_mode_prints_announcements_and_errors_as_before(
        restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("warning", "text", "produce")
    logs.announce(logging.getLogger("synfinance.produce"), "produced nothing", produced={})
    logs.error_line("--seed must be < 2**63")
    assert capsys.readouterr().err.splitlines() == ["produced nothing", "synfinance: error: --seed must be < 2**63"]


def test_a_bad_log_format_on_the_command_line_is_one_line_and_exit_2(
        restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lag-exporter", "--log-format", "yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == ["synfinance: error: --log-format 'yaml': expected text or json"]


# -- the commands ----------------------------------------------------------------------------------------------


def with_password(url: str, password: str) -> str:
    """The URL with a password (the local stack's PostgreSQL trusts its user: any password is accepted)."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':')[0]}:{password}@{host}"))


def json_lines(stderr: str, component: str) -> list[dict[str, object]]:
    entries = []
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a {component} line on stderr is not JSON: {line!r}\n{stderr[-3000:]}")
        assert isinstance(entry, dict) and all(key in entry for key in REQUIRED), line
        assert entry["component"] == component and ISO_UTC_MS.fullmatch(str(entry["time"])), line
        entries.append(entry)
    assert entries, f"{component} logged nothing"
    return entries


def with_context(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in entries if set(e) - {*REQUIRED, "exception"}]


def test_an_unreachable_broker_is_one_json_error_line_with_its_address(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNFIN_")}
    env.update(SYNFIN_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}", SYNFIN_STATE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "produce", "--events", "10", "--connect-timeout", "2",
                          "--log-format", "json"], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 2, run.stderr
    error = json_lines(run.stderr, "produce")[-1]
    assert error["level"] == "error" and "is unreachable" in str(error["message"]), error
    assert error["bootstrap_servers"] == f"127.0.0.1:{port}"


def test_librdkafkas_lines_are_json_records(restored_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs.configure("warning", "json", "sink")
    client_log = ClientLog()  # a fresh one: the process's CLIENT_LOG may have seen the problem already
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "logger": client_log, "error_cb": client_log.error,
                         "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 50})
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and not client_log.counts():
        producer.poll(0.1)
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert entries and {e["logger"] for e in entries} == {"synfinance.kafka"}, entries
    assert any("Connection refused" in str(e["message"]) for e in entries), entries


@pytest.mark.integration
def test_produce_process_and_sink_log_only_json(kafka_bootstrap: str, database_url: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    password = f"pw-{uuid.uuid4().hex}"
    schema = f"logs_{suffix}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNFIN_")}
    env.update(SYNFIN_BOOTSTRAP_SERVERS=kafka_bootstrap, SYNFIN_DATABASE_URL=with_password(database_url, password),
               SYNFIN_PARTITIONS="2", COLUMNS="", TERM="xterm-256color",
               **{f"SYNFIN_TOPICS__{kind.upper()}": f"logs-{kind}-{suffix}"
                  for kind in ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq", "runs")})

    def run(*args: str, json_by: str = "option") -> subprocess.CompletedProcess[str]:
        """Run the CLI with json logs chosen by the option, the setting, or neither."""
        extra = ["--log-format", "json"] if json_by == "option" else []
        child_env = {**env, "SYNFIN_LOG_FORMAT": "json"} if json_by == "setting" else env
        done = subprocess.run([sys.executable, "-m", "synfinance.cli", *args, *extra], capture_output=True, text=True,
                              timeout=240, env=child_env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert password not in done.stdout + done.stderr
        return done

    run("db", "init", "--schema", schema, json_by="none")  # not a long-running command: text
    produced = json_lines(run("produce", "--seed", "7", "--events", "2000", "--rate", "20000", "--label-delay", "0",
                              "--customers", "500", "--merchants", "100").stderr, "produce")
    summary = next(e for e in produced if str(e["message"]).startswith("produced "))
    assert summary["position"] == 2000 and summary["failed"] == 0, summary
    processed = json_lines(run("process", "--no-web", "--workers", "2", "--stop-when-idle", "3", "--log-level", "info",
                               "--group", f"logs-{suffix}").stderr, "process")
    totals = next(e for e in processed if str(e["message"]).startswith("process: scored"))
    assert totals["scored"] == 2000 and totals["workers"] == 2, totals
    assert any(e["logger"] == "synfinance.processors.worker" for e in processed), processed  # the workers' own
    sunk = json_lines(run("sink", "--schema", schema, "--metrics-port", "0", "--stop-when-idle", "2",
                          "--group", f"logs-sink-{suffix}", json_by="setting").stderr, "sink")
    stopped = next(e for e in sunk if str(e["message"]).startswith("stopped: "))
    assert isinstance(stopped["records"], int) and stopped["records"] >= 2000, stopped
    for entries in (produced, processed, sunk):
        assert with_context(entries)
