"""`synfinance stack up|down|status|env`: the local Kafka + PostgreSQL pair and its state file.

State lives in `<state dir>/stack.json` (default `.synfin/` in the checkout): the PIDs and ports of
exactly the processes `up` started, so `down` stops those and nothing else. `up` on a running stack
is a no-op; `up` on a stack whose processes died (killed, the machine rebooted) restarts them on the same
ports with the same data, so clients holding the old address reconnect and nothing stored is lost. Only
`down` (without `--keep`) deletes data. The Kafka version is part of the state: a stack keeps the
version it was started with, and `up` refuses to switch a stack that exists to another (the data
directory formats differ), so switching is `down` then `up`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from synfinance.common.errors import UsageError
from synfinance.stack import kafka, postgres, registry
from synfinance.stack.paths import state_dir as default_state_dir
from synfinance.stack.processes import pid_alive


@dataclass
class StackState:
    kafka: kafka.KafkaProcess | None = None
    postgres: postgres.PostgresProcess | None = None
    registry: registry.RegistryProcess | None = None

    def exports(self) -> dict[str, str]:
        variables = {}
        if self.kafka:
            variables["SYNFIN_BOOTSTRAP_SERVERS"] = self.kafka.bootstrap
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
        )

    def _save(self, state: StackState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload = {"kafka": asdict(state.kafka) if state.kafka else None,
                   "postgres": asdict(state.postgres) if state.postgres else None,
                   "registry": asdict(state.registry) if state.registry else None}
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

    def up(self, with_kafka: bool = True, with_postgres: bool = True, with_registry: bool = False,
           kafka_version: str | None = None) -> StackState:
        """Start what is not already running (the schema registry only on request); returns the state.
        `kafka_version` overrides SYNFIN_KAFKA_VERSION; neither may differ from a stack that exists."""
        # check every prerequisite first, so a missing tool never leaves half a stack running
        if with_kafka:
            version = self.kafka_version(kafka_version)
            kafka.preflight(version)
        if with_postgres:
            postgres.preflight()
        if with_registry:
            registry.preflight()
        state = self.load()
        if with_kafka and not (state.kafka and pid_alive(state.kafka.pid)
                               and kafka.kafka_answers(state.kafka.bootstrap)):
            home = self.state_dir / "kafka"
            ports = None
            if state.kafka:
                kafka.stop_kafka(state.kafka)
                if (home / "data" / "meta.properties").exists():
                    ports = (state.kafka.port, state.kafka.controller_port)  # restart in place
            if ports is None:
                shutil.rmtree(home, ignore_errors=True)
            state.kafka = kafka.start_kafka(home, version, ports=ports)
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
            kafka.stop_kafka(state.kafka)
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
            alive = pid_alive(state.kafka.pid) and kafka.kafka_answers(state.kafka.bootstrap)
            lines["kafka"] = (f"{'running' if alive else 'NOT answering'} pid {state.kafka.pid} "
                              f"bootstrap {state.kafka.bootstrap} version {state.kafka.version}")
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
