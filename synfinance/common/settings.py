"""Runtime settings, read from `SYNFIN_*` environment variables (and an optional `.env` file).

Every component reads its connection details and topic names from here, validated once at start.
Kafka security settings pass through to the client under Kafka's own names; secrets are `SecretStr`
and never printed. `load_settings()` turns a validation failure into a one-line `InvalidInput` that
names the setting, so the CLI can exit 2 instead of printing a traceback.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synfinance.common.errors import InvalidInput
from synfinance.common.registry import check_registry_url

ENV_PREFIX = "SYNFIN_"


class TopicNames(BaseModel):
    """Topic names (SPEC §2); `SYNFIN_TOPICS__TRANSACTIONS=...` overrides one."""

    customers: str = "synfin.customers.v1"
    merchants: str = "synfin.merchants.v1"
    transactions: str = "synfin.transactions.v1"
    labels: str = "synfin.labels.v1"
    scored: str = "synfin.scored.v1"
    alerts: str = "synfin.alerts.v1"
    dlq: str = "synfin.dlq.v1"
    # compacted, one RunInfo per stream id: a run's seed, header set and schema fingerprints (`--headers lean`
    # records carry neither the seed nor the schema, so consumers find them here)
    runs: str = "synfin.runs.v1"

    def value_schemas(self) -> dict[str, str]:
        """Topic -> the Avro schema (`schemas/<name>.avsc`) of its values, for every topic with one."""
        return {self.customers: "customer", self.merchants: "merchant", self.transactions: "transaction",
                self.labels: "label", self.scored: "scored_transaction", self.alerts: "alert",
                self.runs: "run_info"}

    @field_validator("*")
    @classmethod
    def _legal_topic_name(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not value or len(value) > 249 or not set(value) <= allowed or value in {".", ".."}:
            raise ValueError(f"{value!r} is not a legal Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)")
        return value


class Settings(BaseSettings):
    """All settings; environment variables are `SYNFIN_<FIELD>` (nested: `SYNFIN_TOPICS__LABELS`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    database_url: SecretStr = SecretStr("postgresql://synfin@127.0.0.1:5432/synfin")
    schema_registry_url: str | None = None

    topics: TopicNames = Field(default_factory=TopicNames)
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=16)

    # Kafka client security, passed through under Kafka's own names (see kafka_config()).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None

    log_format: Literal["text", "json"] = "text"
    # what `produce --control-port`'s changes (PUT/POST) need in their X-API-Key header
    control_api_key: SecretStr | None = None
    # where our HTTP servers (metrics, health) listen: loopback unless a container must be scraped
    bind_host: str = "127.0.0.1"

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r} is not host:port (expected e.g. 127.0.0.1:9092)")
        return value

    @field_validator("schema_registry_url")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        return None if not value else check_registry_url(value)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
            raise ValueError("must start with postgresql:// (e.g. postgresql://user@127.0.0.1:5432/db)")
        return value

    def kafka_config(self) -> dict[str, str]:
        """The confluent-kafka (librdkafka) client config: bootstrap servers plus security settings."""
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        return config

    def database_dsn(self) -> str:
        """The database URL as libpq/psycopg2 accepts it (SQLAlchemy driver suffix removed)."""
        return self.database_url.get_secret_value().replace("postgresql+psycopg2://", "postgresql://", 1)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = "__".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    return f"invalid setting {ENV_PREFIX}{location}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; a bad value raises `InvalidInput` naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise InvalidInput(_describe(error)) from None
