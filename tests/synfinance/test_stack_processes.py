"""The stack signals only its own processes: a pid recorded in stack.json that another process took over
(a reboot reuses pids) is neither taken for the service nor stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from synfinance.stack import kafka, postgres, registry
from synfinance.stack.processes import pid_alive, runs


def test_a_pid_reused_by_another_process_is_not_ours_and_never_signalled(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        node = kafka.KafkaProcess(other.pid, 1, 2, str(tmp_path / "kafka" / "data"), str(tmp_path / "logs"))
        server = postgres.PostgresProcess(other.pid, 1, str(tmp_path / "postgres"))
        schemas = registry.RegistryProcess(other.pid, 1, str(tmp_path / "registry"))
        assert pid_alive(other.pid) and runs(other.pid, "sleep 60")
        assert not kafka.running(node) and not postgres.running(server) and not registry.running(schemas)
        kafka.stop_kafka(node)
        postgres.stop_postgres(server, remove=False)
        registry.stop_registry(schemas)
        assert other.poll() is None  # still running: nothing was sent to it
    finally:
        other.kill()
        other.wait()
    assert not runs(other.pid, "sleep 60")  # exited
