"""Our servers listen on loopback unless SYNFIN_BIND_HOST says otherwise (read from /proc/net/tcp and tcp6,
as `ss -ltn` does): each HTTP server alone, and every listening socket of a whole running stack (Kafka,
PostgreSQL, the schema registry, producer with its control API, processor and sink)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from synfinance.commands.produce import Metrics
from synfinance.common.settings import TopicNames
from synfinance.sinks.metrics import MetricsServer, SinkMetrics
from synfinance.stack.processes import free_port
from synfinance.testing import StackProvider
from tests.faults.support import cli, stop

LISTEN = "0A"


def listening_address(port: int) -> str:
    """The local address of the TCP socket listening on `port` (IPv4), as a dotted quad."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == LISTEN and int(hex_port, 16) == port:
            return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on {port}")


def test_the_sink_metrics_server_listens_on_loopback() -> None:
    port = free_port()
    server = MetricsServer(SinkMetrics(), port, alive=lambda: True, ready=lambda: True)
    try:
        assert listening_address(port) == "127.0.0.1"
    finally:
        server.close()


def test_the_producer_metrics_server_listens_where_it_is_told() -> None:
    loopback, everywhere = free_port(), free_port()
    Metrics(loopback)
    Metrics(everywhere, "0.0.0.0")
    assert listening_address(loopback) == "127.0.0.1"
    assert listening_address(everywhere) == "0.0.0.0"


def _address(hex_address: str) -> str:
    """/proc/net/tcp{,6} hex (32-bit words in host byte order) as an IP address string."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def descendants(pids: set[int]) -> set[int]:
    """`pids` and every process below them."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    found, added = set(pids), True
    while added:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        added = bool(below)
    return found


def listeners_of(pids: set[int]) -> dict[int, str]:
    """Port -> local address of every TCP socket (IPv4 and IPv6) that `pids` hold open in LISTEN state."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # exited
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile (the directory listing's own fd, for one)
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == LISTEN and fields[9] in inodes:
                found[int(hex_port, 16)] = _address(address)
    return found


def on_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def test_the_whole_stack_check_sees_a_listener_on_every_interface() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as everywhere, \
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as everywhere6:
        everywhere.bind(("0.0.0.0", 0))
        everywhere6.bind(("::", 0))
        everywhere.listen()
        everywhere6.listen()
        ours = listeners_of({os.getpid()})
        port, port6 = everywhere.getsockname()[1], everywhere6.getsockname()[1]
        assert ours[port] == "0.0.0.0" and not on_loopback(ours[port])
        assert ours[port6] == "::" and not on_loopback(ours[port6])
    assert on_loopback("127.0.0.1") and on_loopback("::1") and on_loopback("::ffff:127.0.0.1")


@pytest.mark.integration
def test_every_listener_of_a_running_stack_and_its_components_is_on_loopback(
        tmp_path: Path, synfin_stack: StackProvider, kafka_bootstrap: str, database_url: str,
        schema_registry_url: str) -> None:
    """The session's stack (Kafka, PostgreSQL and the registry, all started by the fixtures above) with a
    producer, processor and sink of this test's own on it."""
    state = synfin_stack.local_state()
    assert state is not None and state.kafka is not None and state.postgres is not None and state.registry
    assert (state.kafka.bootstrap, state.registry.url) == (kafka_bootstrap, schema_registry_url)
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, **state.exports(), "SYNFIN_DATABASE_URL": database_url, "SYNFIN_PARTITIONS": "2",
           **{f"SYNFIN_TOPICS__{kind.upper()}": f"test.listen.{run}.{kind}" for kind in TopicNames().model_dump()}}
    env.pop("SYNFIN_BIND_HOST", None)  # the default is what is checked
    schema = f"listen_{run}"
    producer = processor = sink = None
    try:
        for command in (["topics", "create"], ["db", "init", "--schema", schema]):
            done = subprocess.run([sys.executable, "-m", "synfinance.cli", *command], env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        producer_port, processor_port, sink_port, control_port = free_port(), free_port(), free_port(), free_port()
        producer = cli({**env, "SYNFIN_CONTROL_API_KEY": "listen"}, tmp_path / "producer.log", "produce", "--events",
                       "3000", "--rate", "50", "--customers", "200", "--merchants", "50", "--seed", "3",
                       "--metrics-port", str(producer_port), "--control-port", str(control_port))
        processor = cli(env, tmp_path / "processor.log", "process", "--group", f"listen-processor-{run}",
                        "--web-port", str(processor_port))
        sink = cli(env, tmp_path / "sink.log", "sink", "--schema", schema, "--group", f"listen-sink-{run}",
                   "--metrics-port", str(sink_port))
        ours = {state.kafka.pid, state.postgres.pid, state.registry.pid, producer.pid, processor.pid, sink.pid}
        expected = {state.kafka.port, state.kafka.controller_port, state.postgres.port, state.registry.port,
                    producer_port, processor_port, sink_port, control_port}
        deadline = time.monotonic() + 120.0
        listening = listeners_of(descendants(ours))
        while not expected <= set(listening):
            for name, process in (("producer", producer), ("processor", processor), ("sink", sink)):
                assert process.poll() is None, (tmp_path / f"{name}.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"not listening after 120 s: {sorted(expected - set(listening))}"
            time.sleep(0.5)
            listening = listeners_of(descendants(ours))
        outside = {port: address for port, address in listening.items() if not on_loopback(address)}
        assert outside == {}, f"listening outside loopback: {outside} (all: {listening})"
    finally:
        stop(processor, sink, producer)


@pytest.mark.integration
def test_bind_moves_a_command_off_loopback_and_a_bad_one_is_refused(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap}
    env.pop("SYNFIN_BIND_HOST", None)
    ports = {"127.0.0.1": free_port(), "0.0.0.0": free_port()}
    exporters = {host: cli(env, tmp_path / f"lag-{i}.log", "lag-exporter", "--metrics-port", str(port),
                           *(["--bind", host] if host != "127.0.0.1" else []))
                 for i, (host, port) in enumerate(ports.items())}
    try:
        for host, port in ports.items():
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert listening_address(port) == host
                    break
                except AssertionError:
                    assert exporters[host].poll() is None and time.monotonic() < deadline
                    time.sleep(0.2)
    finally:
        stop(*exporters.values())
    refused = subprocess.run([sys.executable, "-m", "synfinance.cli", "lag-exporter", "--bind", "anywhere"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "synfinance: error: --bind 'anywhere': expected an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost"]
