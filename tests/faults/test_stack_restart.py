"""`synfinance stack up` after kill -9 never destroys data: the dead services come back on their ports with
every row and record, `up` on a healthy stack changes nothing, and a service whose data marker is gone is
refused (exit 1) until an explicit `stack reset --yes`. (A cluster's dead node: tests/faults/test_cluster.py.)

Each case has a stack of its own (a killed service would break every other test's clients) and a bounded,
known payload: RECORDS records on a topic, ROWS rows in a table, both checked exactly after the restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.processors.kafka_io import read_to_end
from synfinance.stack.processes import pid_alive
from tests.faults.support import report_recovery
from tests.synfinance.test_stack_cli import run_sql, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TOPIC, PARTITIONS = "restart.kept.v1", 3
RECORDS, ROWS = 5_000, 10_000
CLI_TIMEOUT_S = 300.0


def synfinance(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`synfinance ARGS` as a user runs it (stdin not a terminal), on the stack in `state_dir`."""
    env = {**os.environ, "SYNFIN_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env=env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)


def expected_records() -> list[tuple[bytes, bytes]]:
    return [(f"k{i % 97}".encode(), f"v{i}".encode()) for i in range(RECORDS)]


def produce_known_records(bootstrap: str, replication: int = 1) -> None:
    """RECORDS (key, value) pairs on TOPIC, acknowledged by every in-sync replica."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, replication)])[TOPIC].result(60)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "partitioner": "murmur2_random"})
    failures: list[object] = []
    for key, value in expected_records():
        producer.produce(TOPIC, value, key, on_delivery=lambda error, _m: failures.append(error) if error else None)
        producer.poll(0)
    assert producer.flush(60) == 0 and failures == []


def stored_records(bootstrap: str) -> dict[bytes, list[bytes]]:
    """Every record of TOPIC, as the values of each key in offset order."""
    by_key: dict[bytes, list[bytes]] = {}
    partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    for message in read_to_end({"bootstrap.servers": bootstrap}, partitions, timeout=120.0):
        by_key.setdefault(message.key(), []).append(message.value())
    return by_key


def expected_by_key() -> dict[bytes, list[bytes]]:
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in expected_records():
        by_key.setdefault(key, []).append(value)
    return by_key


def kill_9(*pids: int) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(pid) for pid in pids))


def test_up_after_kill_9_of_postgres_and_the_broker_keeps_every_row_and_record(tmp_path: Path) -> None:
    state_dir = tmp_path / "stack"
    first = synfinance(state_dir, "stack", "up")
    assert first.returncode == 0, first.stderr
    try:
        state = json.loads((state_dir / "stack.json").read_text())
        kafka_port, pg_port = state["kafka"]["port"], state["postgres"]["port"]
        bootstrap = f"127.0.0.1:{kafka_port}"
        assert first.stdout.splitlines()[:2] == [f"kafka started on {bootstrap}",
                                                 f"postgres started on 127.0.0.1:{pg_port}"]
        produce_known_records(bootstrap)
        run_sql(pg_port, f"CREATE TABLE kept (n bigint PRIMARY KEY, tag text NOT NULL); "
                         f"INSERT INTO kept SELECT n, 'row-' || n FROM generate_series(1, {ROWS}) AS n")

        # up on a healthy stack: one line saying so, and nothing touched
        before = (state_dir / "stack.json").read_bytes()
        healthy = synfinance(state_dir, "stack", "up")
        assert healthy.returncode == 0, healthy.stderr
        assert healthy.stdout.splitlines()[0] == "already up: nothing to start"
        assert "started" not in healthy.stdout and "restarted" not in healthy.stdout
        assert (state_dir / "stack.json").read_bytes() == before
        assert pid_alive(state["kafka"]["pid"]) and pid_alive(state["postgres"]["pid"])

        kill_9(state["postgres"]["pid"], state["kafka"]["pid"])
        started = time.monotonic()
        again = synfinance(state_dir, "stack", "up")
        assert again.returncode == 0, again.stderr
        report_recovery("kill -9 of PostgreSQL and the broker", "`stack up` back, same ports and data",
                        time.monotonic() - started)
        assert again.stdout.splitlines()[:2] == [
            f"kafka was not running: restarted on {bootstrap} with its data",
            f"postgres was not running: restarted on 127.0.0.1:{pg_port} with its data"]
        restarted = json.loads((state_dir / "stack.json").read_text())
        assert (restarted["kafka"]["port"], restarted["kafka"]["controller_port"], restarted["postgres"]["port"]) == (
            kafka_port, state["kafka"]["controller_port"], pg_port)
        assert restarted["kafka"]["pid"] != state["kafka"]["pid"]
        assert restarted["postgres"]["pid"] != state["postgres"]["pid"]

        assert run_sql(pg_port, "SELECT count(*), sum(n), count(DISTINCT tag) FROM kept") == [
            (ROWS, ROWS * (ROWS + 1) // 2, ROWS)]
        assert run_sql(pg_port, "SELECT tag FROM kept WHERE n IN (1, 5000, 10000) ORDER BY n") == [
            ("row-1",), ("row-5000",), ("row-10000",)]
        stored = stored_records(bootstrap)
        assert sum(len(values) for values in stored.values()) == RECORDS
        assert stored == expected_by_key()  # every record once, each key's records in the order sent

        assert synfinance(state_dir, "stack", "up").stdout.splitlines()[0] == "already up: nothing to start"

        # down --keep keeps the state file too, so the next up restarts in place rather than afresh
        assert synfinance(state_dir, "stack", "down", "--keep").returncode == 0
        kept = synfinance(state_dir, "stack", "up")
        assert kept.returncode == 0, kept.stderr
        assert kept.stdout.splitlines()[:2] == [
            f"kafka was not running: restarted on {bootstrap} with its data",
            f"postgres was not running: restarted on 127.0.0.1:{pg_port} with its data"]
        assert run_sql(pg_port, "SELECT count(*) FROM kept") == [(ROWS,)]
        assert stored_records(bootstrap) == expected_by_key()
    finally:
        assert synfinance(state_dir, "stack", "down").returncode == 0


def test_a_missing_data_marker_is_refused_until_an_explicit_reset(tmp_path: Path) -> None:
    state_dir = tmp_path / "stack"
    assert synfinance(state_dir, "stack", "up").returncode == 0
    try:
        state = json.loads((state_dir / "stack.json").read_text())
        kafka_data = Path(state["kafka"]["data_dir"])
        pg_data = Path(state["postgres"]["home"]) / "data"
        run_sql(state["postgres"]["port"], "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        kill_9(state["postgres"]["pid"], state["kafka"]["pid"])
        (kafka_data / "meta.properties").unlink()
        (pg_data / "postmaster.opts").unlink()
        before = (state_dir / "stack.json").read_bytes()

        refused = synfinance(state_dir, "stack", "up")
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            f"synfinance: error: kafka's data in {kafka_data} has no meta.properties, postgres's data in {pg_data} "
            "has no postmaster.opts: `up` starts no empty service over data; `synfinance stack reset --yes` deletes it"]
        assert (state_dir / "stack.json").read_bytes() == before  # nothing started, nothing deleted
        assert (pg_data / "PG_VERSION").exists() and (pg_data / "base").is_dir()
        assert any(kafka_data.iterdir())

        unconfirmed = synfinance(state_dir, "stack", "reset")  # stdin is not a terminal
        assert unconfirmed.returncode == 2
        assert unconfirmed.stderr.splitlines() == [
            f"synfinance: error: `stack reset` deletes every topic and row of the stack in {state_dir.resolve()}: "
            "add --yes to confirm"]
        assert (pg_data / "PG_VERSION").exists() and (state_dir / "stack.json").exists()

        reset = synfinance(state_dir, "stack", "reset", "--yes")
        assert reset.returncode == 0, reset.stderr
        assert reset.stdout.splitlines() == [f"reset: deleted the data of the stack in {state_dir.resolve()}"]
        assert not (state_dir / "stack.json").exists() and not (state_dir / "kafka").exists()
        assert not Path(state["postgres"]["home"]).exists()
    finally:
        synfinance(state_dir, "stack", "down")
