"""`synfinance sink` — consume the SynFinance topics into PostgreSQL, exactly once per record."""

from __future__ import annotations

import logging

import typer

from synfinance.commands import binding
from synfinance.common import logs
from synfinance.common.errors import UsageError, broker_unreachable
from synfinance.common.kafka_logging import client_logging
from synfinance.common.settings import Settings, load_settings
from synfinance.schemas.registry import read_through_url

# the sink's own modules (numpy, SQLAlchemy, Alembic, psycopg2, ...) load when the command runs, so
# that other commands start without them

# the logical topic names (settings.topics fields) and the record each carries (SPEC section 2)
TOPIC_SCHEMAS = {"customers": "customer", "merchants": "merchant", "transactions": "transaction",
                 "labels": "label", "scored": "scored_transaction", "alerts": "alert"}
DEFAULT_METRICS_PORT = 9310


def _topics(settings: Settings, wanted: str | None) -> dict[str, str]:
    """topic name -> schema, for the wanted logical topics that exist on the cluster."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    names = list(TOPIC_SCHEMAS) if wanted is None else [w.strip() for w in wanted.split(",") if w.strip()]
    unknown = [n for n in names if n not in TOPIC_SCHEMAS]
    if unknown or not names:
        raise UsageError(f"--topics {wanted!r}: use a comma-separated subset of {','.join(TOPIC_SCHEMAS)}")
    try:
        present = set(AdminClient({**settings.kafka_config(), **client_logging()}).list_topics(timeout=15).topics)
    except KafkaException as error:
        raise broker_unreachable(settings.bootstrap_servers, error.args[0].str()) from None
    dlq = settings.topics.dlq
    if dlq not in present:
        raise UsageError(f"dead-letter topic {dlq} does not exist: run `synfinance topics create`")
    chosen = {getattr(settings.topics, n): TOPIC_SCHEMAS[n] for n in names if getattr(settings.topics, n) in present}
    if not chosen:
        raise UsageError(f"none of the topics {', '.join(getattr(settings.topics, n) for n in names)} exist: "
                         "run `synfinance topics create`")
    missing = [getattr(settings.topics, n) for n in names if getattr(settings.topics, n) not in present]
    if missing:
        logging.getLogger(__name__).info("not consuming %s: no such topic", ", ".join(missing))
    return chosen


def _code(error: Exception) -> str:
    """The name of a KafkaException's error (`_TRANSPORT`, `FENCED_INSTANCE_ID`...)."""
    first = error.args[0] if error.args else None
    return str(first.name()) if hasattr(first, "name") else type(error).__name__


def _check_database(settings: Settings, db_schema: str) -> None:
    from sqlalchemy.exc import OperationalError

    from synfinance.sinks import database

    engine = database.engine(settings.database_dsn(), db_schema)
    try:
        current = database.current_revision(engine)
    except OperationalError as error:
        first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise UsageError(f"database unreachable ({first}); check SYNFIN_DATABASE_URL",
                         context={"schema": db_schema, "error_class": type(error.orig or error).__name__}) from None
    finally:
        engine.dispose()
    if current != database.head_revision():
        raise UsageError(f"schema {db_schema} is at revision {current or 'none'}, not "
                         f"{database.head_revision()}: run `synfinance db init --schema {db_schema}`")


def sink(
    group: str = typer.Option("synfin-sink", "--group", help="Consumer group id (run more processes to share load)."),
    topics: str | None = typer.Option(
        None, "--topics", help=f"Comma-separated subset of {','.join(TOPIC_SCHEMAS)} (default: all that exist)."),
    db_schema: str = typer.Option("public", "--schema", help="PostgreSQL schema holding the tables."),
    batch_size: int = typer.Option(20_000, "--batch-size", min=1, help="Records per database transaction, at most."),
    batch_ms: int = typer.Option(1_000, "--batch-ms", min=1, help="Write a batch at least this often (ms)."),
    connections: int = typer.Option(
        2, "--connections", min=1, max=16, help="Batches written concurrently (one transaction each)."),
    metrics_port: int = typer.Option(
        DEFAULT_METRICS_PORT, "--metrics-port", min=0, max=65535, help="Serve /metrics, /healthz, /readyz; 0: off."),
    lag: bool = typer.Option(True, "--lag/--no-lag", help="Export the lag of every consumer group with the metrics."),
    stop_when_idle: float | None = typer.Option(
        None, "--stop-when-idle", min=0.0, help="Exit after this many seconds without new records (backfills)."),
    log_format: str | None = typer.Option(None, "--log-format", help=logs.OPTION_HELP),
    bind: str | None = typer.Option(None, "--bind", help=binding.HELP),
) -> None:
    """Consume the topics into PostgreSQL: COPY + ON CONFLICT, offsets committed after the database.

    Example: synfinance db init && synfinance sink --stop-when-idle 10   (a backfill: exits once caught up)
    """
    import psycopg2
    from confluent_kafka import KafkaException

    from synfinance.sinks import database
    from synfinance.sinks.consumer import Sink, SinkConfig
    from synfinance.sinks.lag import LagCollector, LagReader
    from synfinance.sinks.metrics import MetricsServer, SinkMetrics

    settings = load_settings()
    host = binding.bind_host(bind, settings)
    logs.configure("info", logs.chosen_format(log_format, settings.log_format), "sink")
    database.check_schema_name(db_schema)
    chosen = _topics(settings, topics)
    _check_database(settings, db_schema)
    read_through_url(settings.schema_registry_url)  # Confluent-framed values are named through it
    config = SinkConfig(kafka=settings.kafka_config(), dsn=settings.database_dsn(), topics=chosen,
                        dlq_topic=settings.topics.dlq, group=group, schema=db_schema, batch_size=batch_size,
                        batch_ms=batch_ms, connections=connections, stop_when_idle=stop_when_idle)
    metrics = SinkMetrics()
    worker = Sink(config, metrics)
    worker.install_signal_handlers()
    server = reader = collector = None
    if metrics_port:
        if lag:
            reader = LagReader(settings.kafka_config())
            collector = LagCollector(reader)
            metrics.registry.register(collector.start())
        try:
            server = MetricsServer(metrics, metrics_port, alive=worker.alive, ready=worker.ready,
                                   host=host)
        except OSError as error:
            raise UsageError(f"--metrics-port {metrics_port}: {error.strerror}") from None
    log = logging.getLogger("synfinance.sink")
    log.info("sinking %s into schema %s as group %s%s", ", ".join(chosen), db_schema, group,
             f"; metrics on :{server.port}/metrics" if server else "",
             extra={"topics": list(chosen), "schema": db_schema, "group": group,
                    "metrics_port": server.port if server else None})
    try:
        stats = worker.run()
    except psycopg2.Error as error:  # not an outage (those are retried): e.g. a table dropped under us
        first = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(f"database error: {first} (is the schema at head? `synfinance db init`)",
                         context={"schema": db_schema, "error_class": type(error).__name__}) from None
    except KafkaException as error:
        raise UsageError(f"Kafka error: {error.args[0]}", context={"error_code": _code(error)}) from None
    finally:
        if server is not None:
            server.close()
        if collector is not None:
            collector.stop()
        if reader is not None:
            reader.close()
    log.info("stopped: %d records in %d batches", stats.records, stats.batches,
             extra={"records": stats.records, "batches": stats.batches})
