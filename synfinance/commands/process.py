"""`synfinance process` — velocity features and online fraud scores in-stream (SPEC §7).

One worker per process, hosted by a Faust app (`processors.app`); `--workers N` starts N worker processes
that share the partitions of one consumer group, each with its own worker index (its transactional id
and model checkpoint) and web port (`--web-port P`: P, P+1, ...). SIGINT/SIGTERM stop every worker
cleanly: each commits what it did and leaves the group.

Before any worker starts, the broker and the input topics are checked: an unreachable broker (15 s at
most) or a missing topic is one line and exit 2. At the end, one line on stderr sums up the run
(transactions scored, alerts, dead letters, elapsed time; all workers together). Exit 0 after a signal or
`--stop-when-idle`, 1 when a worker failed, 2 for a usage or connection problem.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import typer

from synfinance.commands import binding
from synfinance.common import logs
from synfinance.common.errors import SynfinError, UsageError
from synfinance.common.registry import SchemaRegistry
from synfinance.common.settings import Settings, load_settings
from synfinance.schemas.codec import Codec
from synfinance.schemas.registry import read_through, writer_codec

DEFAULT_WEB_PORT = 6066
log = logging.getLogger("synfinance.process")


def _codec(settings: Settings) -> Codec:
    """With SYNFIN_SCHEMA_REGISTRY_URL: read Confluent-framed inputs, write scores and alerts framed so."""
    if not settings.schema_registry_url:
        return Codec()
    registry = SchemaRegistry(settings.schema_registry_url)
    read_through(registry)
    written = {topic: name for topic, name in settings.topics.value_schemas().items()
               if name in ("scored_transaction", "alert")}
    return writer_codec(registry, written)


def _check_inputs(settings: Settings) -> None:
    """One line (exit 2) for an unreachable broker or a missing input topic, before any worker starts."""
    from synfinance.processors.kafka_io import partition_counts

    topics = settings.topics
    partition_counts(settings.kafka_config(), [topics.customers, topics.transactions, topics.labels])


def _summary(scored: int, alerts: int, dead_letters: int, elapsed_s: float, workers: int) -> None:
    """The run's one closing line (all workers together): bare text, or a record with the counts."""
    logs.announce(log, f"process: scored {scored:,} transactions, {alerts:,} alerts, {dead_letters:,} dead letters "
                       f"in {elapsed_s:,.1f} s" + (f" ({workers} workers)" if workers > 1 else ""),
                  scored=scored, alerts=alerts, dead_letters=dead_letters, elapsed_s=round(elapsed_s, 3),
                  workers=workers)


def process(
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes to start (one group)."),
    web_port: int = typer.Option(DEFAULT_WEB_PORT, "--web-port", min=1, max=65535,
                                 help="Port of /metrics, /healthz, /readyz (worker i uses port + i)."),
    web: bool = typer.Option(True, "--web/--no-web", help="Serve the web endpoints at all."),
    group: str = typer.Option("synfin-processor", "--group", help="Consumer group; also names the state topics."),
    threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0, help="Alert when score >= this."),
    commit_interval: float = typer.Option(0.5, "--commit-interval", min=0.01,
                                          help="Seconds between Kafka transactions (outputs, state, offsets)."),
    max_hold: float = typer.Option(5.0, "--max-hold", min=0.0,
                                   help="Seconds a transaction may wait for labels up to its event time."),
    learn_negatives: float = typer.Option(
        0.2, "--learn-negatives", min=0.0, max=1.0,
        help="Share of legitimate labels the model learns (each weighted by its inverse); frauds: all."),
    max_labelled_inputs: int = typer.Option(
        4_000_000, "--max-labelled-inputs", min=0,
        help="Model inputs of labelled transactions a worker keeps to learn label revisions (~135 bytes "
             "each; oldest evicted beyond this)."),
    worker_index: int | None = typer.Option(None, "--worker-index", min=0, hidden=True,
                                            help="Run one worker with this index (what --workers starts)."),
    stop_when_idle: float | None = typer.Option(None, "--stop-when-idle", min=0.0,
                                                help="Exit after this many seconds without new records "
                                                     "(counted from the latest partition assignment)."),
    log_level: str = typer.Option("warning", "--log-level", help="Log level of the worker(s)."),
    log_format: str | None = typer.Option(None, "--log-format", help=logs.OPTION_HELP),
    bind: str | None = typer.Option(None, "--bind", help=binding.HELP),
    stall_timeout: float = typer.Option(
        90.0, "--stall-timeout", min=5.0,
        help="Seconds the loop may not turn (a Kafka call that never returns) before the worker is stalled."),
    on_stall: str = typer.Option(
        "restart", "--on-stall",
        help="A stalled worker: 'restart' replaces its process with a fresh one (resuming from the last "
             "commit); 'exit' exits with code 3 for a supervisor to restart."),
    totals_file: Path | None = typer.Option(None, "--totals-file", hidden=True,
                                            help="Write the worker's totals here as JSON (what --workers reads)."),
) -> int:
    """Score every transaction (features + River model), learn from labels, emit scores and alerts.

    Example: synfinance process --workers 2 --stop-when-idle 30   (a backlog: exits 30 s after the last input)
    """
    started = time.monotonic()
    if on_stall not in ("restart", "exit"):
        raise UsageError(f"--on-stall {on_stall!r}: expected 'restart' or 'exit'")
    settings = load_settings()
    host = binding.bind_host(bind, settings)
    fmt = logs.chosen_format(log_format, settings.log_format)
    logs.configure(log_level, fmt, "process")
    if worker_index is None:
        _check_inputs(settings)
    if worker_index is not None or workers == 1:
        # imported here: Faust and River take ~2.5 s to import, which every other command would pay
        from synfinance.processors.app import run_worker
        from synfinance.processors.worker_config import WorkerConfig

        index = worker_index or 0
        config = WorkerConfig(kafka=settings.kafka_config(), topics=settings.topics, group=group,
                              worker_id=str(index), threshold=threshold, commit_interval_s=commit_interval,
                              max_hold_s=max_hold, learn_negatives=learn_negatives,
                              max_labelled_inputs=max_labelled_inputs,
                              stop_when_idle_s=stop_when_idle, stall_s=stall_timeout, codec=_codec(settings))
        outcome = run_worker(config, web_port + index if web else None, log_level, web_host=host,
                             on_stall=on_stall, log_format=fmt)
        totals = outcome.totals
        if totals_file is not None:
            totals_file.write_text(json.dumps(totals.__dict__))
        if isinstance(outcome.error, SynfinError):
            raise outcome.error
        if worker_index is None:
            _summary(totals.scored, totals.alerts, totals.dead_letters, time.monotonic() - started, 1)
        if outcome.error is not None:
            raise typer.Exit(1)
        return 0
    if settings.schema_registry_url:  # one clear line here, not one per worker
        SchemaRegistry(settings.schema_registry_url).subjects()
    base = [sys.executable, "-m", "synfinance.cli", "process", "--group", group, "--threshold", str(threshold),
            "--commit-interval", str(commit_interval), "--max-hold", str(max_hold),
            "--learn-negatives", str(learn_negatives), "--max-labelled-inputs", str(max_labelled_inputs),
            "--log-level", log_level, "--log-format", fmt, "--stall-timeout", str(stall_timeout),
            "--on-stall", on_stall, "--web-port", str(web_port), "--web" if web else "--no-web", "--bind", host]
    if stop_when_idle is not None:
        base += ["--stop-when-idle", str(stop_when_idle)]
    scratch = tempfile.TemporaryDirectory(prefix="synfin-process-")
    files = [Path(scratch.name) / f"worker-{i}.json" for i in range(workers)]
    children = [subprocess.Popen([*base, "--worker-index", str(i), "--totals-file", str(files[i])])
                for i in range(workers)]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    with scratch:
        totals = [json.loads(f.read_text()) for f in files if f.is_file()]
    _summary(*(sum(t[name] for t in totals) for name in ("scored", "alerts", "dead_letters")),
             time.monotonic() - started, workers)
    failed = [i for i, code in enumerate(codes) if code]
    if failed:
        usage = all(codes[i] == 2 for i in failed)  # each said why in one line
        raise UsageError(f"worker(s) {failed} exited with codes {[codes[i] for i in failed]}",
                         exit_code=2 if usage else 1)
    return 0
