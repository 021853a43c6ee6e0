"""`synfinance stack up|down|status|env`: the local Kafka + PostgreSQL pair and its state file.

State lives in `<state dir>/stack.json` (default `.synfin/` in the checkout): the PIDs and ports of
exactly the processes `up` started, so `down` stops those and nothing else. Kafka is one node, or with
`up --brokers N` a KRaft cluster of N nodes (each broker and controller; topics replicated three times,
two replicas needed for a write), whose bootstrap list `env` exports. `up` on a running stack
is a no-op; `up` on a stack whose processes died (killed, the machine rebooted) restarts them on the same
ports with the same data, so clients holding the old address reconnect and nothing stored is lost. Only
`down` (without `--keep`) deletes data. The Kafka version is part of the state: a stack keeps the
version it was started with, and `up` refuses to switch a stack that exists to another (the data
directory formats differ), so switching is `down` then `up`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synfinance.common.errors import UsageError
from synfinance.stack import kafka, postgres, registry
from synfinance.stack.paths import state_dir as default_state_dir
from synfinance.stack.processes import pid_alive

MAX_BROKERS = 5


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
           kafka_version: str | None = None, brokers: int | None = None) -> StackState:
        """Start what is not already running (the schema registry only on request); returns the state.
        `kafka_version` overrides SYNFIN_KAFKA_VERSION; neither may differ from a stack that exists, nor
        may `brokers` (the Kafka nodes: one, or a cluster)."""
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
        if with_kafka and not (state.brokers and all(pid_alive(b.pid) and kafka.kafka_answers(b.bootstrap,
                                                                                               brokers=count)
                                                     for b in state.brokers)):
            home = self.state_dir / "kafka"
            ports = None
            if state.brokers:
                for node in state.brokers:
                    kafka.stop_kafka(node)
                if all((h / "data" / "meta.properties").exists() for h in kafka.node_homes(home, count)):
                    ports = [(b.port, b.controller_port) for b in state.brokers]  # restart in place
            if ports is None:
                shutil.rmtree(home, ignore_errors=True)
            nodes = kafka.start_cluster(home, version, count, ports=ports)
            state.kafka, state.kafka_nodes = nodes[0], nodes[1:]
            self._save(state)
        if with_postgres and not (state.postgres and pid_alive(state.postgres.pid)
                                  and postgres.postgres_answers(state.postgres.port)):
            if state.postgres and (Path(state.postgres.home) / "data" / "postmaster.opts").exists():
                postgres.stop_postgres(state.postgres, remove=False)
                state.postgres = postgres.start_server(state.postgres)  # same port, same data
            else:
                if state.postgres:
                    postgres.stop_postgres(state.postgres)
                state.postgres = postgres.start_postgres(self.state_dir)
            self._save(state)
        if with_registry and not (state.registry and pid_alive(state.registry.pid)
                                  and registry.registry_answers(state.registry.url)):
            port = None
            if state.registry:  # died: the same port, so clients holding its URL find it again
                registry.stop_registry(state.registry)
                port = state.registry.port
            state.registry = registry.start_registry(self.state_dir / "registry", port=port)
            self._save(state)
        return state

    def down(self, keep: bool = False) -> StackState:
        """Stop exactly the processes `up` started; remove their data unless `keep`."""
        state = self.load()
        if state.kafka:
            for node in state.brokers:
                kafka.stop_kafka(node)
            if not keep:
                shutil.rmtree(self.state_dir / "kafka", ignore_errors=True)
        if state.postgres:
            postgres.stop_postgres(state.postgres, remove=not keep)
        if state.registry:
            registry.stop_registry(state.registry)  # in-memory storage: nothing to keep
            shutil.rmtree(self.state_dir / "registry", ignore_errors=True)
        if not keep:
            self.state_file.unlink(missing_ok=True)
        else:
            self._save(StackState())
        return state

    def status(self) -> dict[str, str]:
        """One line per component: what runs, where."""
        state = self.load()
        lines = {}
        if state.kafka:
            for node in state.brokers:
                alive = pid_alive(node.pid) and kafka.kafka_answers(node.bootstrap)
                name = "kafka" if node.node_id == 1 else f"kafka-{node.node_id}"
                lines[name] = (f"{'running' if alive else 'NOT answering'} pid {node.pid} "
                               f"bootstrap {node.bootstrap} version {node.version}")
        else:
            lines["kafka"] = "not started"
        if state.postgres:
            alive = pid_alive(state.postgres.pid) and postgres.postgres_answers(state.postgres.port)
            lines["postgres"] = (f"{'running' if alive else 'NOT answering'} pid {state.postgres.pid} "
                                 f"url {state.postgres.url}")
        else:
            lines["postgres"] = "not started"
        if state.registry:
            alive = pid_alive(state.registry.pid) and registry.registry_answers(state.registry.url)
            lines["registry"] = (f"{'running' if alive else 'NOT answering'} pid {state.registry.pid} "
                                 f"url {state.registry.url}")
        return lines
