"""pytest plugin (entry point `pytest11: synfinance`): a real Kafka broker and PostgreSQL for tests.

Session-scoped fixtures `kafka_bootstrap` (a `host:port` string), `database_url` (a libpq URL),
`schema_registry_url` (a Confluent-compatible registry, started on first use) and `synfin_stream` (a factory
of seeded streams on that broker, `synfinance.seeded_stream`; `registry=True` streams use the same registry).
The broker and the database come from, in order:
1. `SYNFIN_BOOTSTRAP_SERVERS` / `SYNFIN_DATABASE_URL` if set (an external stack you run);
2. Testcontainers (Kafka in KRaft mode, PostgreSQL) if a Docker engine answers a ping;
   the Kafka image is `apache/kafka:<version>`, the version as for the local stack;
3. the embedded local stack (`synfinance stack`), started in a temporary state dir and stopped at
   the end of the session, running `SYNFIN_KAFKA_VERSION` (else the default Kafka 4.x).
`SYNFIN_TEST_BACKEND=local|docker` forces 3 or 2 (docker needs `pip install 'synfinance[docker]'`).
Installing the `synfinance` distribution is enough: pytest loads the plugin by itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def docker_engine_answers() -> bool:
    """True only if a Docker engine answers a ping (the `docker` CLI alone proves nothing)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _require_testcontainers() -> None:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        raise pytest.UsageError("the docker test backend needs Testcontainers: "
                                "pip install 'synfinance[docker]' (or SYNFIN_TEST_BACKEND=local)") from None


class StackProvider:
    """Starts the Kafka / PostgreSQL services on first use, stops them at session end."""

    def __init__(self, state_dir: Path) -> None:
        forced = os.environ.get("SYNFIN_TEST_BACKEND", "").lower()
        if forced not in ("", "local", "docker"):
            raise pytest.UsageError(f"SYNFIN_TEST_BACKEND={forced!r}: expected 'local' or 'docker'")
        self.backend = forced or ("docker" if docker_engine_answers() else "local")
        self.state_dir = state_dir
        self._containers: list[Any] = []
        self._local: Any = None

    def _local_stack(self) -> Any:
        if self._local is None:
            from synfinance.stack.launcher import LocalStack

            self._local = LocalStack(self.state_dir)
        return self._local

    def kafka_bootstrap(self) -> str:
        if self.backend == "docker":
            _require_testcontainers()
            try:  # testcontainers >= 4.15 moved its modules under testcontainers.community
                from testcontainers.community.kafka import KafkaContainer
            except ImportError:
                from testcontainers.kafka import KafkaContainer

            from synfinance.stack.kafka import selected_version

            # the release the local stack would run (SYNFIN_KAFKA_VERSION, else the default); Kafka 4
            # rejects records stamped > 1 h ahead unless told otherwise, and simulated event time can be
            container = (KafkaContainer(f"apache/kafka:{selected_version()}").with_kraft()
                         .with_env("KAFKA_LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS", str(2**63 - 1)))
            container.start()
            self._containers.append(container)
            return str(container.get_bootstrap_server())
        state = self._local_stack().up(with_kafka=True, with_postgres=False)
        return str(state.kafka.bootstrap)

    def database_url(self) -> str:
        if self.backend == "docker":
            _require_testcontainers()
            try:
                from testcontainers.community.postgres import PostgresContainer
            except ImportError:
                from testcontainers.postgres import PostgresContainer

            container = PostgresContainer("postgres:15", driver=None)
            container.start()
            self._containers.append(container)
            return str(container.get_connection_url())
        state = self._local_stack().up(with_kafka=False, with_postgres=True)
        return str(state.postgres.url)

    def schema_registry_url(self) -> str:
        """A Confluent-compatible registry (Apicurio) in the local stack, whatever the backend."""
        state = self._local_stack().up(with_kafka=False, with_postgres=False, with_registry=True)
        assert state.registry is not None
        return state.registry.url

    def local_state(self) -> Any:
        """The embedded local stack's `StackState` (its processes and ports), or None when no service of this
        session runs in it (an external stack, or Docker)."""
        return self._local.load() if self._local is not None else None

    def close(self) -> None:
        for container in reversed(self._containers):
            with contextlib.suppress(Exception):
                container.stop()
        if self._local is not None:
            self._local.down()


@pytest.fixture(scope="session")
def synfin_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProvider]:
    """The provider behind `kafka_bootstrap` and `database_url` (also exposes the local stack)."""
    provider = StackProvider(tmp_path_factory.mktemp("synfin-stack"))
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(synfin_stack: StackProvider) -> str:
    """`host:port` of a real Kafka broker for this test session."""
    return os.environ.get("SYNFIN_BOOTSTRAP_SERVERS") or synfin_stack.kafka_bootstrap()


@pytest.fixture(scope="session")
def database_url(synfin_stack: StackProvider) -> str:
    """`postgresql://...` URL of a real, empty-at-start PostgreSQL database for this test session."""
    return os.environ.get("SYNFIN_DATABASE_URL") or synfin_stack.database_url()


def _registry_url(provider: StackProvider) -> str:
    return os.environ.get("SYNFIN_SCHEMA_REGISTRY_URL") or provider.schema_registry_url()


@pytest.fixture(scope="session")
def synfin_stream(kafka_bootstrap: str, synfin_stack: StackProvider) -> Any:
    """A factory: `synfin_stream(seed=7, events=5_000)` fills fresh topics with that seeded stream and returns
    a `SeededStream` (topic names, a consumer config, the ground-truth labels, the expected counts).
    `registry=True` writes the Confluent wire format through the session's schema registry (started then).
    Identical calls in one session share their topics."""
    from synfinance.seeded_stream import StreamFactory

    return StreamFactory(kafka_bootstrap, registry_url=lambda: _registry_url(synfin_stack))


@pytest.fixture(scope="session")
def schema_registry_url(synfin_stack: StackProvider) -> str:
    """Base URL of a real Confluent-compatible schema registry (`SYNFIN_SCHEMA_REGISTRY_URL` if set, else
    Apicurio started in the local stack on first use)."""
    return _registry_url(synfin_stack)
