"""`synfinance demo` — the main job end to end: local stack, producer, processor, sink, one dashboard."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import typer
from confluent_kafka import Consumer, TopicPartition
from rich.table import Table

from synfinance.common.errors import UsageError
from synfinance.common.kafka_logging import client_logging
from synfinance.common.logs import OPTION_HELP, chosen_format, configure
from synfinance.common.settings import load_settings
from synfinance.console import make_console
from synfinance.demo import (
    EXAMPLE_ENGINE,
    GROUPS,
    DemoOptions,
    child_env,
    evaluate_example_engine,
    evaluate_processor,
    framing_report,
    run_pipeline,
    start_example_engine,
)
from synfinance.sinks.lag import LagReader
from synfinance.stack.launcher import LocalStack
from synfinance.stack.paths import state_dir

console = make_console()
log = logging.getLogger("synfinance.demo")

NEXT_QUERIES = (
    ("fraud by type",
     "SELECT coalesce(fraud_type, '-') AS fraud_type, count(*) FROM labels_latest GROUP BY 1 ORDER BY 2 DESC;"),
    ("alerts that were fraud (precision)",
     "SELECT avg(l.is_fraud::int) AS precision, count(*) AS alerts "
     "FROM alerts a JOIN labels_latest l USING (transaction_id);"),
    ("a customer's day", "SELECT event_time, amount_paise / 100.0 AS inr, merchant_category, city, is_fraud "
                         "FROM transactions_labelled WHERE customer_id LIKE 'C%-00000042' "
                         "ORDER BY event_time LIMIT 20;"),
)


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env=env, capture_output=True, text=True,
                            timeout=300)
    if result.returncode:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise UsageError(f"{what} failed: {last[0]}")


def _produced(kafka: dict[str, str], topic: str) -> int:
    """Records in the topic: the sum of its partitions' end offsets (idempotent producer: no duplicates)."""
    consumer = Consumer({**kafka, **client_logging(), "group.id": "synfin-demo-count", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def _database_counts(dsn: str) -> dict[str, float]:
    queries = {
        "transactions": "SELECT count(*) FROM transactions",
        "labels": "SELECT count(*) FROM labels_latest",
        "scored": "SELECT count(DISTINCT transaction_id) FROM scored_transactions",
        "alerts": "SELECT count(*) FROM alerts",
        "frauds": "SELECT count(*) FROM labels_latest WHERE is_fraud",
        "frauds_alerted": "SELECT count(*) FROM labels_latest l WHERE l.is_fraud AND EXISTS "
                          "(SELECT 1 FROM alerts a WHERE a.transaction_id = l.transaction_id)",
        "alerts_fraud": "SELECT count(*) FROM alerts a JOIN labels_latest l USING (transaction_id) WHERE l.is_fraud",
    }
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        out = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            out[name] = float(cursor.fetchone()[0])
        return out


def demo(
    duration: float = typer.Option(60.0, "--duration", help="Seconds of producing."),
    rate: float = typer.Option(1000.0, "--rate",
                               help="Transactions per second (bench/RESULTS.md: one processor worker alone scored "
                                    "5-15k/s on 2 cores; here it shares them with producer and sink)."),
    seed: int = typer.Option(42, "--seed", help="Seed of the stream."),
    customers: int = typer.Option(10_000, "--customers", help="Number of customers."),
    threshold: float = typer.Option(0.5, "--threshold", help="Alert when the fraud score is at least this."),
    keep_stack: bool = typer.Option(False, "--keep-stack", help="Leave the local Kafka and PostgreSQL running."),
    registry: bool = typer.Option(False, "--registry", help="Confluent wire format through a schema registry "
                                  "(SYNFIN_SCHEMA_REGISTRY_URL, else Apicurio started with the local stack)."),
    example_engine: bool = typer.Option(False, "--example-engine",
                                        help="Also run examples/rules_engine.py (a checkout's) alongside our "
                                             "processor and write its evaluation report too."),
    log_format: str | None = typer.Option(None, "--log-format", help=OPTION_HELP + " Also the components'."),
) -> None:
    """Run producer, processor and sink on the local stack for --duration seconds, then summarise.

    Example: synfinance demo --duration 120 --rate 2000
    """
    if duration <= 0 or rate <= 0:
        raise UsageError("--duration and --rate must be > 0")
    if example_engine and not EXAMPLE_ENGINE.is_file():
        raise UsageError(f"--example-engine runs examples/rules_engine.py of a checkout of the repository; "
                         f"not found at {EXAMPLE_ENGINE}")
    if example_engine and registry:
        raise UsageError("--example-engine reads the single-object framing; run it without --registry")
    fmt = chosen_format(log_format, load_settings().log_format)
    configure("info" if fmt == "json" else "warning", fmt, "demo")  # text: the tables are the report
    external = bool(os.environ.get("SYNFIN_BOOTSTRAP_SERVERS") and os.environ.get("SYNFIN_DATABASE_URL"))
    local_registry = registry and not os.environ.get("SYNFIN_SCHEMA_REGISTRY_URL")
    stack = None if external and not local_registry else LocalStack(state_dir() / "demo")
    exports: dict[str, str] = {}
    if stack is not None:
        parts = [*([] if external else ["Kafka", "PostgreSQL"]), *(["schema registry"] if local_registry else [])]
        console.print(f"starting the local stack ({' + '.join(parts)})...")
        state = stack.up(with_kafka=not external, with_postgres=not external, with_registry=local_registry)
        exported = state.exports()  # only what this run asked for (a kept stack may hold more)
        registry_url = exported.pop("SYNFIN_SCHEMA_REGISTRY_URL", None)
        exports = {} if external else exported
        if local_registry and registry_url:
            exports["SYNFIN_SCHEMA_REGISTRY_URL"] = registry_url
    env = {**child_env(exports), "SYNFIN_LOG_FORMAT": fmt}  # the component logs in the demo's format
    os.environ.update(exports)
    settings = load_settings()
    options = DemoOptions(duration_s=duration, rate=rate, seed=seed, customers=customers, threshold=threshold)
    problems: list[str] = []
    try:
        _run(["db", "init"], env, "db init")
        _run(["topics", "create"], env, "topics create")
        logs = Path(tempfile.mkdtemp(prefix="synfin-demo-"))
        started = time.monotonic()
        log.info("demo: producing for %g s at %g/s (seed %d); component logs in %s", duration, rate, seed, logs,
                 extra={"duration_s": duration, "rate": rate, "seed": seed, "logs": str(logs)})
        engine = start_example_engine(settings, env, logs) if example_engine else None
        try:
            _, problems = run_pipeline(options, env, logs, console, settings.topics.transactions)
        except BaseException:
            if engine is not None:
                engine.kill()
            raise
        kafka = settings.kafka_config()
        produced = _produced(kafka, settings.topics.transactions)
        counts = _database_counts(settings.database_dsn())
        reader = LagReader(kafka)
        try:
            lag = {name: sum(p.lag for p in reader.snapshot([group])) for name, group in GROUPS.items()}
        finally:
            reader.close()
            del reader
            gc.collect()  # free the admin client now, before the broker goes away under it
        framing, wrong = framing_report(kafka, settings.topics.value_schemas(), settings.schema_registry_url)
        problems += wrong
        report, board, disagree = evaluate_processor(settings, logs, threshold, counts)
        problems += disagree
        _summary(produced, counts, lag, time.monotonic() - started, logs, settings.database_dsn(), keep_stack,
                 framing)
        ours = board.overall.at_decline
        console.print(f"evaluation of our processor (synfinance evaluate; recall {ours.recall or 0.0:.3f}, "
                      f"precision {ours.precision or 0.0:.3f}): {report}", soft_wrap=True)
        if engine is not None:
            rules_report, rules_board, rules_problems = evaluate_example_engine(settings, engine, logs, threshold)
            problems += rules_problems
            theirs = rules_board.overall.at_decline
            console.print(f"evaluation of examples/rules_engine.py (recall {theirs.recall or 0.0:.3f}, precision "
                          f"{theirs.precision or 0.0:.3f}, {rules_board.latency.decided:,} decided): {rules_report}",
                          soft_wrap=True)
        if counts["transactions"] != produced:
            problems.append(f"persisted {counts['transactions']:,.0f} transactions of {produced:,} produced")
        if counts["scored"] != produced:
            problems.append(f"scored {counts['scored']:,.0f} transactions of {produced:,} produced")
        if any(lag.values()):
            problems.append(f"final lag not zero: {lag}")
    finally:
        if stack is not None and not keep_stack:
            stack.down()
    log.info("demo finished with %d problems", len(problems), extra={"problems": problems})
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}")
    if problems:
        raise typer.Exit(1)


def _summary(produced: int, counts: dict[str, float], lag: dict[str, int], elapsed: float, logs: Path, dsn: str,
             keep_stack: bool, framing: str) -> None:
    table = Table(title="summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("produced transactions (topic end offsets)", f"{produced:,}")
    table.add_row("persisted transactions (PostgreSQL)", f"{counts['transactions']:,.0f}")
    table.add_row("labelled transactions (PostgreSQL)", f"{counts['labels']:,.0f}")
    table.add_row("scored transactions", f"{counts['scored']:,.0f}")
    table.add_row("alerts", f"{counts['alerts']:,.0f}")
    recall = counts["frauds_alerted"] / counts["frauds"] if counts["frauds"] else 0.0
    precision = counts["alerts_fraud"] / counts["alerts"] if counts["alerts"] else 0.0
    table.add_row("fraud recall at the alert threshold", f"{recall:.3f} ({counts['frauds_alerted']:,.0f} of "
                                                          f"{counts['frauds']:,.0f})")
    table.add_row("alert precision", f"{precision:.3f}")
    for name, value in lag.items():
        table.add_row(f"final lag {name}", f"{value:,}")
    table.add_row("value framing", framing)
    table.add_row("wall time", f"{elapsed:,.0f} s")
    console.print(table)
    console.print(f"component logs: {logs}")
    where = dsn if keep_stack else "(run with --keep-stack to keep the database and try these)"
    console.print(f"next, in psql {where}:")
    for what, sql in NEXT_QUERIES:
        console.print(f"  -- {what}\n  {sql}")
