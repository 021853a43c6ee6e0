"""What the commands print when a user pipes them or points them at nothing: an unreachable broker is one
error line (librdkafka's retries filtered), exit 2; piped output has no control codes and no progress frames;
`process` ends with a one-line summary; every command's --help has an example."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import click
import pytest
import typer

from synfinance.cli import app, main

UNREACHABLE_COMMANDS = {
    "sink": ["sink", "--metrics-port", "0"],
    "produce": ["produce", "--events", "10", "--connect-timeout", "5"],
    "process": ["process", "--no-web"],
    "process --workers 2": ["process", "--no-web", "--workers", "2"],
    "validate": ["validate", "--topic", "synfin.transactions.v1"],
    "topics": ["topics", "create"],
}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def piped_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNFIN_")}
    return {**env, "COLUMNS": "", "TERM": "xterm-256color", **extra}


@pytest.fixture(scope="module")
def unreachable_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every Kafka command against a closed port, all at once (each waits for the broker up to ~15-30 s)."""
    env = piped_env(SYNFIN_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}",
                    SYNFIN_STATE_DIR=str(tmp_path_factory.mktemp("state")))
    started = {name: subprocess.Popen([sys.executable, "-m", "synfinance.cli", *argv], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for name, argv in UNREACHABLE_COMMANDS.items()}
    runs = {}
    for name, child in started.items():
        out, err = child.communicate(timeout=180)
        runs[name] = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    return runs


@pytest.mark.parametrize("name", list(UNREACHABLE_COMMANDS))
def test_an_unreachable_broker_is_one_error_line_and_exit_2(
        name: str, unreachable_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = unreachable_runs[name]
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr[-3000:]
    assert len(lines) <= 4, lines  # librdkafka retried hundreds of times; at most a line per distinct problem
    errors = [line for line in lines if line.startswith("synfinance: error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert "is unreachable" in errors[0] and "Traceback" not in run.stderr
    assert run.stdout == ""


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        if isinstance(command, click.Group) or hasattr(command, "commands"):
            found += [(*path, name), *commands(command, (*path, name))]
        else:
            found.append((*path, name))
    return found


ALL_COMMANDS = [(), *commands(typer.main.get_command(app))]  # type: ignore[arg-type]


def test_every_command_is_listed() -> None:
    assert {" ".join(c) for c in ALL_COMMANDS} >= {"produce", "process", "sink", "generate", "validate", "demo",
                                                    "db query", "db init", "stack up", "topics create"}


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: " ".join(c) or "synfinance")
def test_every_help_has_an_example(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"Example: .*synfinance {' '.join(command)}".rstrip() + r"\b", out), out


def test_profile_help_gives_every_profiles_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    from synfinance.producers.profile_syntax import PROFILE_SYNTAX

    assert main(["produce", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    for name, syntax in PROFILE_SYNTAX.items():  # the syntax the parser's own errors quote
        assert syntax.split(" (")[0] in out, name


def test_piped_generate_draws_no_progress_bar(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "generate", "--events", "2000", "--customers", "500",
                          "--merchants", "100", "--out-dir", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=300, env=piped_env())
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout + run.stderr and "━" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == "2,000 transactions, 500 customers, 100 merchants (seed 42)"


@pytest.mark.integration
def test_piped_produce_and_process_print_summaries_without_control_codes(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    env = piped_env(SYNFIN_BOOTSTRAP_SERVERS=kafka_bootstrap,
                    **{f"SYNFIN_TOPICS__{kind.upper()}": f"cli-output-{kind}-{suffix}"
                       for kind in ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq")})
    produced = subprocess.run([sys.executable, "-m", "synfinance.cli", "produce", "--seed", "12", "--events", "1000",
                               "--rate", "2000", "--label-delay", "0", "--customers", "500", "--merchants", "100"],
                              capture_output=True, text=True, timeout=300, env=env)
    assert produced.returncode == 0, produced.stderr
    assert "\x1b" not in produced.stdout + produced.stderr
    lines = produced.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("produced 500 to cli-output-customers-"), lines

    processed = subprocess.run([sys.executable, "-m", "synfinance.cli", "process", "--no-web", "--stop-when-idle",
                                "3", "--group", f"cli-output-{suffix}"],
                               capture_output=True, text=True, timeout=300, env=env)
    assert processed.returncode == 0, processed.stderr
    assert "\x1b" not in processed.stdout + processed.stderr
    summary = processed.stderr.strip().splitlines()[-1]
    match = re.fullmatch(r"process: scored ([\d,]+) transactions, ([\d,]+) alerts, 0 dead letters in [\d.,]+ s",
                         summary)
    assert match, processed.stderr
    assert match[1] == "1,000"


def test_demo_refuses_the_example_engine_with_a_registry_before_starting_anything(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--example-engine", "--registry"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--example-engine reads the single-object framing" in err[0], err
