"""`synfinance generate` — an offline dataset (Avro container files by default) without Kafka."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synfinance.common.errors import UsageError
from synfinance.console import make_console
from synfinance.producers.dataset import write_dataset
from synfinance.producers.files import FORMATS
from synfinance.producers.stream import DEFAULT_ANOMALY_RATE, DEFAULT_FRAUD_RATE, StreamConfig
from synfinance.producers.timeline import DEFAULT_START

console = make_console(stderr=True)


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise UsageError(f"--out-dir {out_dir} is not a writable directory: {error.strerror}") from None


def generate(
    seed: int = typer.Option(42, "--seed", help="Seed: the same seed and options give byte-identical files."),
    events: int = typer.Option(100_000, "--events", help="Number of transactions."),
    out_dir: Path = typer.Option(Path("out"), "--out-dir", help="Directory for the files."),
    fmt: str = typer.Option("avro", "--format", help=f"One of: {', '.join(FORMATS)}."),
    customers: int = typer.Option(10_000, "--customers", help="Number of customers."),
    merchants: int = typer.Option(2_000, "--merchants", help="Number of merchants."),
    start: str = typer.Option(DEFAULT_START, "--start", help="Simulated start (ISO date/datetime; naive = IST)."),
    fraud_rate: float = typer.Option(DEFAULT_FRAUD_RATE, "--fraud-rate", help="Share of transactions that are fraud."),
    anomaly_rate: float = typer.Option(DEFAULT_ANOMALY_RATE, "--anomaly-rate",
                                       help="Share of transactions that are legitimate anomalies."),
    label_delay: str = typer.Option("default", "--label-delay",
                                    help="'default' (hours; chargebacks 30-90 days), 'immediate', or seconds."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar (there is none unless stderr is a terminal)."),
) -> None:
    """Write customers, merchants, transactions and labels files for a seed.

    Example: synfinance generate --seed 7 --events 50000 --format parquet --out-dir data/
    """
    if events < 0:
        raise UsageError(f"--events must be >= 0 (got {events})")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    try:
        config = StreamConfig(seed=seed, customers=customers, merchants=merchants, start=start, fraud_rate=fraud_rate,
                              anomaly_rate=anomaly_rate, label_delay=label_delay)
    except ValueError as error:
        raise UsageError(str(error)) from None
    _check_out_dir(out_dir)
    show = not quiet and console.is_terminal and os.environ.get("CI") is None  # a bar only where it redraws
    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not show) as progress:
        task = progress.add_task("events", total=events)
        try:
            result = write_dataset(config, events, out_dir, fmt, lambda n: progress.advance(task, n))
        except ValueError as error:
            raise UsageError(str(error)) from None
    for name, path in result.files.items():
        console.print(f"{name:<13} {path}")
    console.print(f"{result.transactions:,} transactions, {result.customers:,} customers, "
                  f"{result.merchants:,} merchants (seed {seed})")
