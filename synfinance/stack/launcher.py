"""`synfinance stack up|down|reset|status|env`: the local Kafka + PostgreSQL pair and its state file.

State lives in `<state dir>/stack.json` (default `.synfin/` in the checkout): the PIDs and ports of
exactly the processes `up` started, so `down` stops those and nothing else. Kafka is one node, or with
`up --brokers N` a KRaft cluster of N nodes (each broker and controller; topics replicated three times,
two replicas needed for a write), whose bootstrap list `env` exports. `up` on a running stack
is a no-op; `up` on a stack whose processes died (killed, the machine rebooted, `down --keep`) restarts
exactly the dead ones on the same ports with the same data, so clients holding the old address reconnect
and nothing stored is lost. A service whose data lacks the marker a restart needs is refused, never
started empty over it. Only `down` (without `--keep`) and `reset` delete data. The Kafka version is part
of the state: a stack keeps the version it was started with, and `up` refuses to switch a stack that
exists to another (the data directory formats differ), so switching is `down` then `up`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synfinance.common.errors import SynfinError, UsageError
from synfinance.stack import kafka, postgres, registry
from synfinance.stack.paths import state_dir as default_state_dir

MAX_BROKERS = 5
KAFKA_MARKER = "meta.properties"  # written when Kafka formats its storage: without it, it formats again
POSTGRES_MARKER = "postmaster.opts"  # the options (port included) a cluster restarts with


def _node_name(node: kafka.KafkaProcess, nodes: int) -> str:
    """`kafka` alone, or `kafka-N` for node N of a cluster."""
    return "kafka" if nodes == 1 else f"kafka-{node.node_id}"


def _kafka_healthy(node: kafka.KafkaProcess) -> bool:
    return kafka.running(node) and kafka.kafka_answers(node.bootstrap)


def _why(running: bool) -> str:
    """Why a service `up` restarts needed it."""
    return "did not answer" if running else "was not running"


def _postgres_healthy(server: postgres.PostgresProcess) -> bool:
    return postgres.running(server) and postgres.postgres_answers(server.port)


@dataclass
class StackState:
    kafka: kafka.KafkaProcess | None = None  # the first (or only) Kafka node
    postgres: postgres.PostgresProcess | None = None
    registry: registry.RegistryProcess | None = None
    kafka_nodes: list[kafka.KafkaProcess] = field(default_factory=list)  # nodes 2.. of a cluster

    @property
    def brokers(self) -> list[kafka.KafkaProcess]:
        return ([self.kafka] if self.kafka else []) + self.kafka_nodes

    def exports(self) -> dict[str, str]:
        variables = {}
        if self.kafka:
            variables["SYNFIN_BOOTSTRAP_SERVERS"] = ",".join(b.bootstrap for b in self.brokers)
            if self.kafka_nodes:  # topics made by our commands replicate as the cluster's own do
                variables["SYNFIN_REPLICATION_FACTOR"] = str(min(len(self.brokers), 3))
        if self.postgres:
            variables["SYNFIN_DATABASE_URL"] = self.postgres.url
        if self.registry:
            variables["SYNFIN_SCHEMA_REGISTRY_URL"] = self.registry.url
        return variables


class LocalStack:
    """The local stack rooted at one state directory."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.state_file = self.state_dir / "stack.json"

    def load(self) -> StackState:
        if not self.state_file.exists():
            return StackState()
        raw = json.loads(self.state_file.read_text())
        return StackState(
            kafka=kafka.KafkaProcess(**raw["kafka"]) if raw.get("kafka") else None,
            postgres=postgres.PostgresProcess(**raw["postgres"]) if raw.get("postgres") else None,
            registry=registry.RegistryProcess(**raw["registry"]) if raw.get("registry") else None,
            kafka_nodes=[kafka.KafkaProcess(**node) for node in raw.get("kafka_nodes") or []],
        )

    def _save(self, state: StackState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload = {"kafka": asdict(state.kafka) if state.kafka else None,
                   "postgres": asdict(state.postgres) if state.postgres else None,
                   "registry": asdict(state.registry) if state.registry else None,
                   "kafka_nodes": [asdict(node) for node in state.kafka_nodes]}
        self.state_file.write_text(json.dumps(payload, indent=2) + "\n")

    def kafka_version(self, explicit: str | None = None) -> str:
        """The Kafka version `up` runs: the stack's own if one exists (refusing another), else the one
        asked for (`explicit`, else SYNFIN_KAFKA_VERSION), else the default."""
        wanted = kafka.requested_version(explicit)
        existing = self.load().kafka
        if existing is None:
            return wanted or kafka.default_version()
        if wanted and wanted != existing.version:
            raise UsageError(f"the local stack in {self.state_dir} runs Kafka {existing.version}, not {wanted}; "
                             "its data cannot switch versions: `synfinance stack down` first, then `up`")
        return existing.version

    def broker_count(self, explicit: int | None = None) -> int:
        """The Kafka nodes `up` runs: the stack's own count if one exists (refusing another), else
        `explicit`, else one."""
        if explicit is not None and not 1 <= explicit <= MAX_BROKERS:
            raise UsageError(f"--brokers {explicit}: expected 1 to {MAX_BROKERS}")
        existing = self.load().brokers
        if not existing:
            return explicit or 1
        if explicit is not None and explicit != len(existing):
            raise UsageError(f"the local stack in {self.state_dir} runs {len(existing)} Kafka node(s), not "
                             f"{explicit}: `synfinance stack down` first, then `up --brokers {explicit}`")
        return len(existing)

    def up(self, with_kafka: bool = True, with_postgres: bool = True, with_registry: bool = False,
           kafka_version: str | None = None, brokers: int | None = None,
           report: Callable[[str], None] | None = None) -> StackState:
        """Start what is not already running (the schema registry only on request); returns the state.
        `kafka_version` overrides SYNFIN_KAFKA_VERSION; neither may differ from a stack that exists, nor
        may `brokers` (the Kafka nodes: one, or a cluster). `report` gets one line per service started or
        restarted, or "already up: nothing to start"."""
        say = report or (lambda _line: None)
        # check every prerequisite first, so a missing tool never leaves half a stack running
        if with_kafka:
            version = self.kafka_version(kafka_version)
            count = self.broker_count(brokers)
            kafka.preflight(version)
        if with_postgres:
            postgres.preflight()
        if with_registry:
            registry.preflight()
        state = self.load()
        dead_nodes = [b for b in state.brokers if not _kafka_healthy(b)] if with_kafka else []
        postgres_down = with_postgres and state.postgres is not None and not _postgres_healthy(state.postgres)
        self._refuse_data_without_marker(state, dead_nodes, postgres_down, with_kafka, with_postgres)
        started = False
        if with_kafka and (dead_nodes or not state.brokers):
            self._up_kafka(state, version, count, dead_nodes, say)
            started = True
        if with_postgres and (postgres_down or state.postgres is None):
            self._up_postgres(state, say)
            started = True
        if with_registry and not (state.registry and registry.running(state.registry)
                                  and registry.registry_answers(state.registry.url)):
            port = None
            if state.registry:  # died: the same port, so clients holding its URL find it again
                registry.stop_registry(state.registry)
                port = state.registry.port
            state.registry = registry.start_registry(self.state_dir / "registry", port=port)
            self._save(state)
            say(f"registry {'was not running: restarted' if port else 'started'} on {state.registry.url}"
                + (" (in memory: clients register their schemas again)" if port else ""))
            started = True
        if not started:
            say("already up: nothing to start")
        return state

    def _refuse_data_without_marker(self, state: StackState, dead_nodes: list[kafka.KafkaProcess],
                                    postgres_down: bool, with_kafka: bool, with_postgres: bool) -> None:
        """Refuse (exit 1, one line) to start an empty service where data lies that `up` cannot restart:
        Kafka formats (and so empties) a data dir without meta.properties, and a PostgreSQL cluster is
        restarted only from its postmaster.opts. Deleting such data is `stack reset`'s job, never `up`'s."""
        problems = []
        if with_kafka:
            for node in dead_nodes:
                if not (Path(node.data_dir) / KAFKA_MARKER).exists():
                    name = _node_name(node, len(state.brokers))
                    problems.append(f"{name}'s data in {node.data_dir} has no {KAFKA_MARKER}")
            home = self.state_dir / "kafka"
            if not state.brokers and home.is_dir() and any(home.iterdir()):
                problems.append(f"kafka's data in {home} belongs to no stack in {self.state_file.name}")
        if with_postgres:
            if postgres_down:
                assert state.postgres is not None
                data = Path(state.postgres.home) / "data"
                if not (data / POSTGRES_MARKER).exists():
                    problems.append(f"postgres's data in {data} has no {POSTGRES_MARKER}")
            home = postgres.cluster_home(self.state_dir)
            if state.postgres is None and home.is_dir() and any(home.iterdir()):
                problems.append(f"postgres's data in {home} belongs to no stack in {self.state_file.name}")
        if problems:
            where = "" if self.state_dir == default_state_dir().resolve() else f"SYNFIN_STATE_DIR={self.state_dir} "
            raise UsageError(f"{', '.join(problems)}: `up` starts no empty service over data; "
                             f"`{where}synfinance stack reset --yes` deletes it", exit_code=1)

    def _up_kafka(self, state: StackState, version: str, count: int, dead_nodes: list[kafka.KafkaProcess],
                  say: Callable[[str], None]) -> None:
        """Restart exactly the dead nodes in place (same ports, same data), or start a fresh cluster."""
        home = self.state_dir / "kafka"
        if not dead_nodes:
            shutil.rmtree(home, ignore_errors=True)  # empty (checked): a fresh stack
            try:
                nodes = kafka.start_cluster(home, version, count)
            except SynfinError:
                shutil.rmtree(home, ignore_errors=True)  # a failed first start holds no data
                raise
            state.kafka, state.kafka_nodes = nodes[0], nodes[1:]
            self._save(state)
            say(f"kafka started on {','.join(b.bootstrap for b in nodes)}")
            return
        why = {b.node_id: _why(kafka.running(b)) for b in dead_nodes}
        for node in dead_nodes:  # alive but not answering: stop it before it is started again
            kafka.stop_kafka(node)
        ports = [(b.port, b.controller_port) for b in state.brokers]
        restarted = {b.node_id: b for b in kafka.start_cluster(home, version, count, ports=ports,
                                                               only={b.node_id for b in dead_nodes})}
        for node in dead_nodes:
            name = _node_name(node, len(state.brokers))
            say(f"{name} {why[node.node_id]}: restarted on {node.bootstrap} with its data")
        nodes = [restarted.get(b.node_id, b) for b in state.brokers]
        state.kafka, state.kafka_nodes = nodes[0], nodes[1:]
        self._save(state)

    def _up_postgres(self, state: StackState, say: Callable[[str], None]) -> None:
        """Restart the cluster in place (same port, same data), or initdb a fresh one."""
        if state.postgres is not None:
            why = _why(postgres.running(state.postgres))
            postgres.stop_postgres(state.postgres, remove=False)
            state.postgres = postgres.start_server(state.postgres)
            self._save(state)
            say(f"postgres {why}: restarted on 127.0.0.1:{state.postgres.port} with its data")
            return
        try:
            state.postgres = postgres.start_postgres(self.state_dir)
        except SynfinError:
            shutil.rmtree(postgres.cluster_home(self.state_dir), ignore_errors=True)  # holds no data yet
            raise
        self._save(state)
        say(f"postgres started on 127.0.0.1:{state.postgres.port}")

    def down(self, keep: bool = False) -> StackState:
        """Stop exactly the processes `up` started; remove their data and the state file unless `keep`
        (then the state file stays, so `up` restarts them on their ports with their data)."""
        state = self.load()
        for node in state.brokers:
            kafka.stop_kafka(node)
        if state.kafka and not keep:
            shutil.rmtree(self.state_dir / "kafka", ignore_errors=True)
        if state.postgres:
            postgres.stop_postgres(state.postgres, remove=not keep)
        if state.registry:
            registry.stop_registry(state.registry)  # in-memory storage: nothing to keep
            if not keep:
                shutil.rmtree(self.state_dir / "registry", ignore_errors=True)
        if not keep:
            self.state_file.unlink(missing_ok=True)
        return state

    def reset(self) -> None:
        """Stop what runs and delete every data directory of this stack, whether a state file names it
        or not (what `up` refuses to start over)."""
        self.down()
        for home in (self.state_dir / "kafka", postgres.cluster_home(self.state_dir), self.state_dir / "registry"):
            shutil.rmtree(home, ignore_errors=True)

    def status(self) -> dict[str, str]:
        """One line per component: what runs, where."""
        state = self.load()
        lines = {}
        if state.kafka:
            for node in state.brokers:
                alive = _kafka_healthy(node)
                lines[_node_name(node, len(state.brokers))] = (
                    f"{'running' if alive else 'NOT answering'} pid {node.pid} bootstrap {node.bootstrap} "
                    f"version {node.version}")
        else:
            lines["kafka"] = "not started"
        if state.postgres:
            alive = _postgres_healthy(state.postgres)
            lines["postgres"] = (f"{'running' if alive else 'NOT answering'} pid {state.postgres.pid} "
                                 f"url {state.postgres.url}")
        else:
            lines["postgres"] = "not started"
        if state.registry:
            alive = registry.running(state.registry) and registry.registry_answers(state.registry.url)
            lines["registry"] = (f"{'running' if alive else 'NOT answering'} pid {state.registry.pid} "
                                 f"url {state.registry.url}")
        return lines
