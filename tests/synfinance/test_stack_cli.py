"""`synfinance stack up|down|status|env` as a user runs it: idempotent up, down frees everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from synfinance.stack.processes import pid_alive, port_open

pytestmark = pytest.mark.integration


def synfinance(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNFIN_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_up_twice_down_up_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = synfinance(state_dir, "stack", "up")
    assert first.returncode == 0, first.stderr
    state = json.loads((state_dir / "stack.json").read_text())
    kafka_pid, kafka_port = state["kafka"]["pid"], state["kafka"]["port"]
    pg_pid, pg_port = state["postgres"]["pid"], state["postgres"]["port"]
    try:
        assert pid_alive(kafka_pid) and pid_alive(pg_pid)
        assert port_open(kafka_port) and port_open(pg_port)

        second = synfinance(state_dir, "stack", "up")
        assert second.returncode == 0, second.stderr
        again = json.loads((state_dir / "stack.json").read_text())
        assert (again["kafka"]["pid"], again["postgres"]["pid"]) == (kafka_pid, pg_pid)

        status = synfinance(state_dir, "stack", "status")
        assert f"running pid {kafka_pid}" in status.stdout
        assert f"running pid {pg_pid}" in status.stdout
        exports = synfinance(state_dir, "stack", "env").stdout.splitlines()
        assert exports == [f"export SYNFIN_BOOTSTRAP_SERVERS=127.0.0.1:{kafka_port}",
                           f"export SYNFIN_DATABASE_URL=postgresql://synfin@127.0.0.1:{pg_port}/synfin"]
    finally:
        down = synfinance(state_dir, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert not pid_alive(kafka_pid) and not pid_alive(pg_pid)
    assert not port_open(kafka_port) and not port_open(pg_port)
    assert not (state_dir / "stack.json").exists()
    assert not (state_dir / "kafka").exists()
    assert "not started" in synfinance(state_dir, "stack", "status").stdout
    no_stack = synfinance(state_dir, "stack", "env")  # eval "$(...)" must not silently do nothing
    assert no_stack.returncode == 1 and no_stack.stdout == "" and "stack up" in no_stack.stderr

    third = synfinance(state_dir, "stack", "up")
    try:
        assert third.returncode == 0, third.stderr
        state = json.loads((state_dir / "stack.json").read_text())
        assert pid_alive(state["kafka"]["pid"]) and pid_alive(state["postgres"]["pid"])
    finally:
        assert synfinance(state_dir, "stack", "down").returncode == 0
    assert not pid_alive(state["kafka"]["pid"]) and not pid_alive(state["postgres"]["pid"])


def test_missing_postgres_binaries_exit_2_and_start_nothing(tmp_path: Path) -> None:
    env_dir = tmp_path / "empty-bin"
    env_dir.mkdir()
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", "stack", "up"],
                            env={**os.environ, "SYNFIN_STATE_DIR": str(tmp_path / "s"),
                                 "SYNFIN_PG_BIN": str(env_dir)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    expected = f"synfinance: error: SYNFIN_PG_BIN={env_dir} has no initdb in it"
    assert result.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "s" / "stack.json").exists()

def test_up_after_the_processes_died_restarts_them_in_place_with_their_data(tmp_path: Path) -> None:
    """kill -9 of the broker and of PostgreSQL, then `stack up`: the same ports, every topic and row kept."""
    from confluent_kafka.admin import AdminClient, NewTopic

    state_dir = tmp_path / "state"
    assert synfinance(state_dir, "stack", "up").returncode == 0
    try:
        state = json.loads((state_dir / "stack.json").read_text())
        bootstrap, pg_port = f"127.0.0.1:{state['kafka']['port']}", state["postgres"]["port"]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("kept", 2, 1)])["kept"].result(30)
        run_sql(pg_port, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        for pid in (state["kafka"]["pid"], state["postgres"]["pid"]):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(state["kafka"]["pid"]) and not pid_alive(state["postgres"]["pid"]))
        assert "NOT answering" in synfinance(state_dir, "stack", "status").stdout

        again = synfinance(state_dir, "stack", "up")
        assert again.returncode == 0, again.stderr
        restarted = json.loads((state_dir / "stack.json").read_text())
        assert (restarted["kafka"]["port"], restarted["postgres"]["port"]) == (state["kafka"]["port"], pg_port)
        assert restarted["kafka"]["pid"] != state["kafka"]["pid"]
        assert restarted["kafka"]["version"] == state["kafka"]["version"]  # same data, same release
        topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
        assert "kept" in topics and len(topics["kept"].partitions) == 2
        assert run_sql(pg_port, "SELECT n FROM kept") == [(42,)]
    finally:
        assert synfinance(state_dir, "stack", "down").returncode == 0


def test_up_refuses_data_no_state_file_names_and_reset_deletes_it(tmp_path: Path) -> None:
    """Data left without a stack.json (deleted, or from a failed run) is never emptied by `up`."""
    from synfinance.stack.postgres import cluster_home

    state_dir = (tmp_path / "state").resolve()
    kafka_home, pg_home = state_dir / "kafka", cluster_home(state_dir)
    for home in (kafka_home, pg_home):
        (home / "data").mkdir(parents=True)
        (home / "data" / "kept").write_text("42")
    try:
        refused = synfinance(state_dir, "stack", "up")
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            f"synfinance: error: kafka's data in {kafka_home} belongs to no stack in stack.json, postgres's data "
            f"in {pg_home} belongs to no stack in stack.json: `up` starts no empty service over data; "
            "`synfinance stack reset --yes` deletes it"]
        assert (kafka_home / "data" / "kept").read_text() == (pg_home / "data" / "kept").read_text() == "42"
        assert not (state_dir / "stack.json").exists()

        reset = synfinance(state_dir, "stack", "reset", "--yes")
        assert reset.returncode == 0, reset.stderr
        assert not kafka_home.exists() and not pg_home.exists()
    finally:
        shutil.rmtree(pg_home, ignore_errors=True)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def run_sql(port: int, sql: str) -> list[tuple[object, ...]]:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="synfin", dbname="synfin")
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()
