"""`synfinance evaluate --decisions TOPIC` — score a fraud engine's decisions against the ground truth.

Reads the transactions and labels topics (SYNFIN_TOPICS__*) and the engine's decisions topic from their
beginning, joins them (`synfinance.processors.evaluation`) and keeps the scoreboard current: a live table on
a terminal, `synfin_eval_*` Prometheus series on `--metrics-port`. It ends on SIGINT/SIGTERM, or with
`--until-lag-zero` once every partition of the three topics has been read to its end; then it prints the
final table and writes `--json` and `--report` (one self-contained HTML file). Exit 0; 2 on bad input.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from confluent_kafka import KafkaException
from rich.live import Live
from rich.table import Table

from synfinance.commands import binding
from synfinance.commands.signals import stop_on_signals
from synfinance.common import logs
from synfinance.common.errors import UsageError, broker_unreachable
from synfinance.common.settings import Settings, load_settings
from synfinance.console import make_console
from synfinance.processors.evaluation.joined import Observed, join
from synfinance.processors.evaluation.reader import EvaluationReader, TopicMissing
from synfinance.processors.evaluation.scoreboard import Scoreboard, score
from synfinance.schemas.registry import read_through_url

console = make_console()
DEFAULT_GROUP = "synfinance-evaluate"
log = logging.getLogger("synfinance.evaluate")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def _writable(path: Path | None, option: str) -> None:
    if path is not None:
        _check(path.parent.is_dir(), f"{option} {path}: the directory {path.parent} does not exist")
        _check(not path.is_dir(), f"{option} {path}: is a directory")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rupees(paise: int) -> str:
    return f"₹{paise / 100:,.0f}"


def table(board: Scoreboard, title: str) -> Table:
    """The scoreboard as a rich table: one row per fraud type, then all of them."""
    out = Table(title=title, box=None, pad_edge=False)
    for column in ("fraud type", "frauds", "recall", "precision", "recall (+review)", "ROC-AUC", "PR-AUC",
                   "caught", "missed", "scenarios prevented/late/missed"):
        out.add_column(column, justify="left" if column == "fraud type" else "right")
    for name, s in [*sorted(board.fraud_types.items()), ("all", board.overall)]:
        out.add_row(name, f"{s.fraud:,}", _pct(s.at_decline.recall), _pct(s.at_decline.precision),
                    _pct(s.at_review.recall), _auc(s.roc_auc), _auc(s.pr_auc), _rupees(s.caught_paise),
                    _rupees(s.missed_paise),
                    f"{s.scenarios.prevented}/{s.scenarios.late}/{s.scenarios.missed}", style="bold" if name == "all"
                    else None)
    return out


def summary(board: Scoreboard) -> str:
    """Counts, false positives on anomalies and latency, in a few lines under the table."""
    c, a, lat = board.counts, board.anomalies, board.latency
    latency = ("no decision times" if lat.p50_ms is None
               else f"p50 {lat.p50_ms:,.1f} ms  p90 {lat.p90_ms:,.1f} ms  p99 {lat.p99_ms:,.1f} ms")
    return (f"{c['transactions']:,} transactions ({c['labelled']:,} labelled, {c['unlabelled']:,} not yet), "
            f"{c['decisions']:,} decisions: {c['missing_decisions']:,} transactions without one (approved), "
            f"{c['unknown_decisions']:,} for unknown transactions, {c['duplicate_decisions']:,} duplicates, "
            f"{c['undecodable_decisions']:,} undecodable\n"
            f"legitimate anomalies stopped: {_pct(a.fpr_decline)} declined, {_pct(a.fpr_review)} with reviews "
            f"(of {a.legit_anomalies:,}); legitimate overall: {_pct(board.overall.at_decline.fpr)} declined\n"
            f"decision latency: {latency}")


def run_evaluation(settings: Settings, decisions: list[str], *, group: str = DEFAULT_GROUP, threshold: float = 0.5,
                   until_lag_zero: bool = True, interval: float = 2.0, stop: threading.Event | None = None,
                   on_board: Callable[[Scoreboard, dict[str, int]], None] | None = None) -> Scoreboard:
    """Read and score until drained (`until_lag_zero`) or `stop`; `on_board` sees every refreshed board."""
    read_through_url(settings.schema_registry_url)
    stop = stop or threading.Event()
    try:
        reader = EvaluationReader(settings.kafka_config(), settings.topics.transactions, settings.topics.labels,
                                  decisions, group)
    except TopicMissing as error:
        raise UsageError(f"{error}: write decisions to it first (README: Scoring your fraud engine)") from None
    except KafkaException as error:
        raise broker_unreachable(settings.bootstrap_servers, error.args[0].str()) from None
    observed = Observed(sources=len(decisions))
    try:
        last, took = time.monotonic(), 0.0
        while not stop.is_set():
            reader.poll(observed)
            done = until_lag_zero and reader.drained()
            # a board is recomputed from everything read (~2 s per million transactions): at least 4/5 of
            # the time goes to reading, whatever --interval says
            if not done and time.monotonic() - last >= max(interval, 4 * took):
                started = time.monotonic()
                if on_board is not None:
                    on_board(_board(reader, observed, threshold), dict(reader.records))
                reader.commit()
                last, took = time.monotonic(), time.monotonic() - started
            if done:
                break
        board = _board(reader, observed, threshold)
        if on_board is not None:
            on_board(board, dict(reader.records))
        reader.commit()
    finally:
        reader.close()
    return board


def _board(reader: EvaluationReader, observed: Observed, threshold: float) -> Scoreboard:
    board = score(join(observed, threshold), threshold)
    board.counts.update({f"undecodable_{kind}": n for kind, n in reader.undecodable.items()})
    return board


def evaluate(
    decisions: list[str] = typer.Option(..., "--decisions", help="The topic your engine writes its decisions to "
                                        "(repeat to combine topics, e.g. scores on one and alerts on another)."),
    group: str = typer.Option(DEFAULT_GROUP, "--group", help="Consumer group the evaluator commits its progress "
                                                             "under (it always reads from the beginning)."),
    until_lag_zero: bool = typer.Option(False, "--until-lag-zero", help="End once the transactions, labels and "
                                        "decisions topics are read to their end (else: on Ctrl-C / SIGTERM)."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve synfin_eval_* on /metrics here."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report (plots inline) here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the scoreboard as JSON here."),
    threshold: float = typer.Option(0.5, "--threshold", help="A decision with a score but no verdict declines "
                                                             "when score >= this."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes of the table and metrics."),
    log_format: str | None = typer.Option(None, "--log-format", help=logs.OPTION_HELP),
    bind: str | None = typer.Option(None, "--bind", help=binding.HELP),
) -> int:
    """Score a fraud engine's decisions topic against the stream's ground truth (recall/precision per fraud type,
    ROC/PR-AUC, scenario detection, ₹ caught and missed, decision latency).

    Decisions: key = customer_id, value = JSON {"transaction_id", "score", "decision", "decided_at"} or Avro
    (schemas/decision.avsc). A transaction without a decision counts as approved.

    Example: synfinance evaluate --decisions my.decisions --until-lag-zero --report eval.html --json eval.json
    """
    _check(all(topic.strip() for topic in decisions), "--decisions: give a topic name")
    _check(len(set(decisions)) == len(decisions), "--decisions: a topic is given twice")
    _check(0.0 <= threshold <= 1.0, f"--threshold {threshold}: expected a score in [0, 1]")
    _check(interval > 0, f"--interval {interval}: expected seconds > 0")
    _check(metrics_port is None or 0 < metrics_port < 65536, f"--metrics-port {metrics_port}: expected 1-65535")
    _writable(report, "--report")
    _writable(json_out, "--json")
    settings = load_settings()
    fmt = logs.chosen_format(log_format, settings.log_format)
    logs.configure("info" if fmt == "json" else "warning", fmt, "evaluate")  # text: the table is the report
    engine = "+".join(decisions)
    log.info("evaluating %s as group %s", engine, group, extra={"decisions": decisions, "group": group,
                                                                 "until_lag_zero": until_lag_zero})
    collector = _serve_metrics(metrics_port, binding.bind_host(bind, settings), engine)
    title = f"synfinance evaluate: {engine}"
    stop = threading.Event()
    with Live(console=console, auto_refresh=False) if console.is_terminal else _nothing() as live, \
            stop_on_signals(stop.is_set, stop.set):
        def on_board(board: Scoreboard, records: dict[str, int]) -> None:
            if collector is not None:
                collector.update(board, records)
            if live is not None:
                live.update(table(board, title), refresh=True)

        board = run_evaluation(settings, decisions, group=group, threshold=threshold, until_lag_zero=until_lag_zero,
                               interval=interval, stop=stop, on_board=on_board)
    log.info("evaluated %s: %d transactions, %d decisions", engine, board.counts["transactions"],
             board.counts["decisions"], extra={**board.counts, "recall": board.overall.at_decline.recall,
                                               "precision": board.overall.at_decline.precision})
    console.print(table(board, title))
    console.print(summary(board), soft_wrap=True)
    if json_out is not None:
        json_out.write_text(json.dumps(board.as_json(), indent=1), encoding="utf-8")
        console.print(f"scoreboard JSON: {json_out}", soft_wrap=True)
    if report is not None:
        from synfinance.processors.evaluation.report import write_report

        write_report(board, report, title=engine)
        console.print(f"report: {report}", soft_wrap=True)
    return 0


def _serve_metrics(port: int | None, host: str, engine: str) -> Any:
    if port is None:
        return None
    from prometheus_client import CollectorRegistry, start_http_server

    from synfinance.processors.evaluation.exporter import ScoreboardCollector

    registry = CollectorRegistry()
    collector = ScoreboardCollector(engine)
    registry.register(collector)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise UsageError(f"--metrics-port {port}: cannot listen ({error.strerror})") from None
    return collector


@contextmanager
def _nothing() -> Iterator[Any]:
    yield None
