"""`synfinance produce` — the seeded stream onto Kafka at an exact rate (SPEC §2, §5, §6).

Parses and checks the options (every mistake is one line, exit 2, before anything is sent), makes sure
the topics exist, then hands over to `producers.producer.ProduceRun` with live stats: a rich panel on
stderr (unless `--quiet` or `--json-stats`), one JSON object per second on stdout (`--json-stats`),
Prometheus metrics (`--metrics-port`), and a one-line summary on stderr at the end (when stderr is not a
terminal, the summary alone: no panel frames or control codes in a log). SIGINT/SIGTERM
stop the run at the next slice, flush, print the summary and exit 0; a second signal aborts without
waiting. Exit 1 when a record could not be delivered.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from rich.live import Live
from rich.table import Table

from synfinance.commands import binding
from synfinance.commands.signals import stop_on_signals
from synfinance.common import logs
from synfinance.common.errors import UsageError
from synfinance.common.process_clock import started_monotonic
from synfinance.common.registry import SchemaRegistry
from synfinance.common.settings import Settings, load_settings
from synfinance.console import make_console
from synfinance.producers.control import Control, Controller, ControlLog, read_control_log
from synfinance.producers.kafka import HEADER_SETS, KafkaProducer
from synfinance.producers.producer import ProduceRun
from synfinance.producers.profile_syntax import build_profile
from synfinance.producers.run_config import RunConfig
from synfinance.producers.run_stats import Snapshot
from synfinance.producers.stream import (
    DEFAULT_ANOMALY_RATE,
    DEFAULT_FRAUD_RATE,
    StreamConfig,
    TransactionStream,
    World,
)
from synfinance.producers.timeline import DEFAULT_START
from synfinance.producers.topics import CONNECT_TIMEOUT_S, ensure_topics, spec_for_settings
from synfinance.schemas.codec import Codec
from synfinance.schemas.registry import writer_codec

DEFAULT_RATE = 1000.0
log = logging.getLogger("synfinance.produce")
console = make_console(stderr=True)


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"--shard {text!r}: expected i/N, e.g. 0/4")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise UsageError(f"--shard {text}: expected i/N with 0 <= i < N")
    return index, count


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


class Metrics:
    """The Prometheus series of a produce run, in a registry of its own."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry()
        self.produced = Counter("synfin_produced_total", "Records handed to the Kafka producer, by topic.",
                                ["topic"], registry=self.registry)
        self.errors = Counter("synfin_produce_errors_total", "Records whose delivery failed after retries.",
                              registry=self.registry)
        self.target = Gauge("synfin_target_rate", "Target transactions/s (NaN for max and replay-speed).",
                            registry=self.registry)
        self.achieved = Gauge("synfin_achieved_rate", "Transactions/s sent over the last 10 s.",
                              registry=self.registry)
        self.controls = Counter("synfin_control_changes_total", "Changes applied through the control API or a "
                                "replayed control log, by action.", ["action"], registry=self.registry)
        self.paused = Gauge("synfin_producer_paused", "1 while the control API holds the run paused.",
                            registry=self.registry)
        self.latency = Histogram("synfin_delivery_latency_seconds",
                                 "Produce-to-acknowledgement time of each produced batch.",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=self.registry)
        self._seen: dict[str, int] = {}
        self._failed = 0
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            raise UsageError(f"--metrics-port {port}: cannot listen ({error.strerror})") from None

    def observe_latency(self, seconds: float, _count: int) -> None:
        self.latency.observe(seconds)

    def update(self, snap: Snapshot) -> None:
        for topic, total in snap.produced.items():
            self.produced.labels(topic=topic).inc(total - self._seen.get(topic, 0))
            self._seen[topic] = total
        self.errors.inc(snap.failed - self._failed)
        self._failed = snap.failed
        self.target.set(float("nan") if snap.target_rate is None else snap.target_rate)
        self.achieved.set(snap.achieved_rate)
        self.paused.set(int(snap.paused))

    def changed(self, control: Control) -> None:
        self.controls.labels(action=control.action).inc()


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def _panel(snap: Snapshot, profile: str) -> Table:
    table = Table(title=f"synfinance produce ({profile})", box=None, show_header=False, pad_edge=False)
    target = "as fast as possible" if snap.target_rate is None else f"{snap.target_rate:,.0f}/s"
    rows = [("target rate", "paused" if snap.paused else target),
            ("achieved rate", f"{snap.achieved_rate:,.0f}/s (10 s window)")]
    rows += [(f"produced {topic}", f"{count:,}") for topic, count in sorted(snap.produced.items())]
    rows += [("delivered", f"{snap.delivered:,}"), ("in flight", f"{snap.in_flight:,}"),
             ("errors", f"{snap.failed:,}"),
             ("delivery latency", f"p50 {_ms(snap.latency_p50_s)}  p99 {_ms(snap.latency_p99_s)}"),
             ("position", f"{snap.position:,}"), ("labels pending", f"{snap.pending_labels:,}"),
             ("elapsed", f"{snap.elapsed_s:,.1f} s")]
    if snap.warning:
        rows.append(("broker", snap.warning))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _as_json(snap: Snapshot) -> str:
    rounded = {"elapsed_s": round(snap.elapsed_s, 3), "streaming_s": round(snap.streaming_s, 3),
               "achieved_rate": round(snap.achieved_rate, 1),
               "startup_s": None if snap.startup_s is None else round(snap.startup_s, 3)}
    return json.dumps({**snap.__dict__, **rounded}, sort_keys=True)


def _prepare_topics(settings: Settings, producer: KafkaProducer, create: bool, timeout: float) -> None:
    if create:
        ensure_topics(settings.kafka_config(), spec_for_settings(settings), connect_timeout=timeout)
        return
    producer.check_broker(timeout)
    names = settings.topics
    missing = sorted({names.customers, names.merchants, names.transactions, names.labels, names.runs}
                     - producer.topics())
    _check(not missing, f"topic {missing[0] if missing else ''} does not exist; run `synfinance topics create` "
                        "or drop --no-create-topics")


def _retention_warning(settings: Settings, start_us: int, live: bool) -> str | None:
    """Brokers delete by record timestamp: simulated event times older than the topic's retention are
    deleted at the broker's next retention check (minutes), not kept for the retention period."""
    spec = next(s for s in spec_for_settings(settings) if s.name == settings.topics.transactions)
    retention_ms = int(spec.config.get("retention.ms", "-1"))
    age_ms = time.time() * 1000 - start_us / 1000
    if live or retention_ms < 0 or age_ms <= retention_ms:
        return None
    return (f"warning: --start is {age_ms / 86_400_000:,.0f} days ago but {spec.name} keeps records "
            f"{retention_ms / 86_400_000:g} days by timestamp (= event time): the broker will delete them "
            "within minutes; use a recent --start or --time live to keep them")


def _codec(settings: Settings) -> Codec:
    """Single-object framing, or with SYNFIN_SCHEMA_REGISTRY_URL the Confluent wire format with ids
    registered before anything is sent."""
    if not settings.schema_registry_url:
        return Codec()
    written = {topic: name for topic, name in settings.topics.value_schemas().items()
               if name in ("customer", "merchant", "transaction", "label", "run_info")}
    return writer_codec(SchemaRegistry(settings.schema_registry_url), written)


def _summary(snap: Snapshot, transactions_topic: str, stopped: bool, undelivered: int) -> str:
    produced = ", ".join(f"{count:,} to {topic}" for topic, count in sorted(snap.produced.items())) or "nothing"
    rate = snap.produced.get(transactions_topic, 0) / snap.streaming_s if snap.streaming_s > 0 else 0.0
    line = (f"produced {produced} in {snap.elapsed_s:,.1f} s ({rate:,.0f} transactions/s); delivered "
            f"{snap.delivered:,}, failed {snap.failed:,}{f', undelivered {undelivered:,}' if undelivered else ''}; "
            f"next position {snap.position:,}")
    if stopped:
        line += f"; stopped early, {snap.pending_labels:,} labels pending: resume with --from-seq {snap.position}"
    return line


def produce(
    seed: int = typer.Option(42, "--seed", help="Seed: same seed + options = the same records."),
    events: int | None = typer.Option(None, "--events",
                                      help="Stop at this stream position (default: no limit). With --shard i/N: the "
                                           "events of the unsharded run; each shard sends its exact share."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many seconds."),
    rate: float | None = typer.Option(None, "--rate", help=f"Events/s for constant/poisson [{DEFAULT_RATE:g}]."),
    profile: str = typer.Option("constant", "--profile",
                                help="The rate over time: NAME:PARAMETERS, the profiles listed above."),
    profile_params: str | None = typer.Option(None, "--profile-params", help="Parameters of --profile."),
    time_mode: str = typer.Option("simulated", "--time", help="simulated (event time from --start) or live."),
    start: str = typer.Option(DEFAULT_START, "--start", help="Simulated start (ISO date/datetime; naive = IST)."),
    shard: str = typer.Option("0/1", "--shard", help="i/N: produce only customers with ordinal = i mod N (the N "
                                                     "shards together: the unsharded run, identical per key)."),
    from_seq: int = typer.Option(0, "--from-seq", help="Resume a killed run at this stream position: 1 + the least "
                                 "synfin-seq among the last records of all transactions and labels partitions."),
    customers: int = typer.Option(10_000, "--customers", help="Number of customers."),
    merchants: int = typer.Option(2_000, "--merchants", help="Number of merchants."),
    fraud_rate: float = typer.Option(DEFAULT_FRAUD_RATE, "--fraud-rate", help="Share of transactions that are fraud."),
    anomaly_rate: float = typer.Option(DEFAULT_ANOMALY_RATE, "--anomaly-rate",
                                       help="Share of transactions that are labelled legitimate anomalies."),
    label_delay: str = typer.Option("default", "--label-delay",
                                    help="Label delays: default (hours; chargebacks 30-90 days), 0, or seconds."),
    quiet: bool = typer.Option(False, "--quiet", help="No live panel (the one-line summary remains; the panel "
                                                      "shows on a terminal only)."),
    json_stats: bool = typer.Option(False, "--json-stats", help="One JSON stats object per second on stdout."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve Prometheus /metrics here."),
    create_topics: bool = typer.Option(True, "--create-topics/--no-create-topics",
                                       help="Create missing topics first (as `synfinance topics create`)."),
    connect_timeout: float = typer.Option(CONNECT_TIMEOUT_S, "--connect-timeout",
                                          help="Seconds to wait for the broker before giving up."),
    generator: str = typer.Option("process", "--generator",
                                  help="Where the stream is generated and encoded: process (a child process, "
                                       "so sending has a core of its own) or thread (all in this process)."),
    control_port: int | None = typer.Option(None, "--control-port",
                                            help="Serve the control API here (127.0.0.1 unless SYNFIN_BIND_HOST; "
                                                 "changes need SYNFIN_CONTROL_API_KEY): `synfinance ctl --help`."),
    control_log: Path | None = typer.Option(None, "--control-log",
                                            help="Write every control applied (API or replay) to this JSON-lines "
                                                 "file, with its stream position."),
    replay_controls: Path | None = typer.Option(None, "--replay-controls",
                                                help="Apply a control log's controls at their positions: in "
                                                     "simulated time, the records of the run that wrote it."),
    headers: str = typer.Option("full", "--headers",
                                help="Record headers: full (synfin-seed, synfin-seq, synfin-schema, traceparent) or "
                                     "lean (synfin-seq, traceparent: faster; the seed and schemas are in the run's "
                                     "record on the runs topic). Keys, values and timestamps are the same."),
    log_format: str | None = typer.Option(None, "--log-format", help=logs.OPTION_HELP),
    bind: str | None = typer.Option(None, "--bind", help=binding.HELP),
) -> int:
    """Publish customers and merchants, then transactions at the chosen rate and labels at their label time.

    Profiles (--profile NAME:PARAMETERS; rates in events/s, times in seconds):
      constant:RATE                    the same rate throughout (or: --rate)
      poisson:RATE                     mean RATE, exponential gaps (or: --rate)
      ramp:FROM:TO:OVER_S              linear from FROM to TO, then holds TO
      step:DURATION_SxRATE,...         each level in turn; the last one holds
      burst:BASE:PEAK:EVERY_S:FOR_S    PEAK for FOR_S of every EVERY_S, else BASE
      diurnal:PEAK:TROUGH[:PEAK_HOUR]  cosine over simulated hours (IST; peak 15)
      replay-speed:FACTOR              simulated time FACTOR times the wall clock
      max                              no parameters: as fast as it goes
    --profile-params P is the same as --profile NAME:P.

    Example: synfinance produce --seed 42 --duration 600 --profile ramp:1000:20000:120
    """
    _check(events is None or events >= 0, f"--events must be >= 0 (got {events})")
    _check(duration is None or duration > 0, f"--duration must be > 0 seconds (got {duration})")
    _check(from_seq >= 0, f"--from-seq must be >= 0 (got {from_seq})")
    _check(time_mode in ("simulated", "live"), f"--time {time_mode!r}: expected simulated or live")
    _check(metrics_port is None or 0 < metrics_port < 65536, f"--metrics-port {metrics_port}: expected 1-65535")
    _check(connect_timeout > 0, "--connect-timeout must be > 0")
    _check(generator in ("process", "thread"), f"--generator {generator!r}: expected process or thread")
    _check(headers in HEADER_SETS, f"--headers {headers!r}: expected full or lean")
    _check(seed < 2**63, f"--seed must be < 2**63 (got {seed}): the run's record holds it as an Avro long")
    _check(control_port is None or 0 < control_port < 65536, f"--control-port {control_port}: expected 1-65535")
    _check(replay_controls is None or (not from_seq and time_mode == "simulated"),
           "--replay-controls replays a whole simulated-time run: not with --from-seq or --time live")
    _check(control_log is None or replay_controls is None or control_log.resolve() != replay_controls.resolve(),
           "--control-log would overwrite the --replay-controls file")
    if rate is None and not profile_params and profile.strip().lower() in ("constant", "poisson"):
        rate = DEFAULT_RATE
    chosen = build_profile(profile, rate, profile_params)
    shard_of = _shard(shard)
    try:
        stream_config = StreamConfig(seed=seed, customers=customers, merchants=merchants, start=start, shard=shard_of,
                                     fraud_rate=fraud_rate, anomaly_rate=anomaly_rate, label_delay=label_delay)
        if from_seq and time_mode == "live":
            raise ValueError("--from-seq resumes a simulated-time run; live event times cannot be replayed")
    except ValueError as error:
        raise UsageError(str(error)) from None
    settings = load_settings()
    fmt = logs.chosen_format(log_format, settings.log_format)
    logs.configure("info" if fmt == "json" else "warning", fmt, "produce")  # text: the summary line is the report
    logging.getLogger("synfinance.producers.control").setLevel(logging.INFO)  # each change: a line in either
    _check(control_port is None or settings.control_api_key is not None,
           "--control-port needs an API key for changes: set SYNFIN_CONTROL_API_KEY")
    stream_names = {"stream_id": stream_config.stream_id, "seed": seed, "shard": f"{shard_of[0]}/{shard_of[1]}"}
    try:
        replayed = read_control_log(replay_controls, stream_names) if replay_controls is not None else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    host = binding.bind_host(bind, settings)
    metrics = Metrics(metrics_port, host) if metrics_port is not None else None
    producer = KafkaProducer(settings.kafka_config(), on_latency=metrics.observe_latency if metrics else None)
    _prepare_topics(settings, producer, create_topics, connect_timeout)
    warning = _retention_warning(settings, stream_config.start_us, time_mode == "live")
    if warning:
        logs.announce(log, warning, logging.WARNING, topic=settings.topics.transactions)
    codec = _codec(settings)
    log.info("producing seed %d from position %d (%s)", seed, from_seq, chosen, extra={
        "seed": seed, "events": events, "from_seq": from_seq, "profile": str(chosen), "shard": shard,
        "topic": settings.topics.transactions})

    # a log gets the summary line only
    show_panel = not quiet and not json_stats and console.is_terminal and not logs.uses_json()
    with Live(console=console, auto_refresh=False, transient=False) if show_panel else _nothing() as live:
        def on_stats(snap: Snapshot) -> None:
            if metrics:
                metrics.update(snap)
            if json_stats:
                print(_as_json(snap), flush=True)
            if live is not None:
                live.update(_panel(snap, str(chosen)), refresh=True)

        if live is not None:
            live.update(f"building {customers:,} customers and {merchants:,} merchants...", refresh=True)
        world = World.cached(stream_config)
        if events is not None and shard_of[1] > 1:
            if live is not None:
                live.update(f"finding shard {shard}'s share of the first {events:,} events...", refresh=True)
            # --events counts the unsharded run: this shard stops where its part of that run ends
            events = TransactionStream(stream_config, world).shard_share(events)
        config = RunConfig(stream=stream_config, profile=chosen, topics=settings.topics, events=events,
                           duration_s=duration, time_mode=time_mode,  # type: ignore[arg-type]
                           from_seq=from_seq, generator=generator, codec=codec,  # type: ignore[arg-type]
                           headers=headers)  # type: ignore[arg-type]
        controller = None
        if control_port is not None or control_log is not None or replayed is not None:
            written = _control_log(control_log, stream_names)
            controller = Controller(replayed, written, on_change=metrics.changed if metrics else None)
        run = ProduceRun(config, producer, world=world, on_stats=on_stats, started=started_monotonic(),
                         controller=controller)
        with stop_on_signals(lambda: run.stop_requested, run.request_stop), \
                _control_server(controller, settings, host, control_port):
            try:
                final = run.run()
            except KafkaException as error:  # fatal: the idempotent producer cannot go on safely
                raise UsageError(f"Kafka producer failed: {error.args[0].str()}", exit_code=1) from None
        undelivered = producer.in_flight
        on_stats(final)
    logs.announce(log, _summary(final, settings.topics.transactions, run.stopped_early, undelivered),
                  produced=final.produced, delivered=final.delivered, failed=final.failed, undelivered=undelivered,
                  position=final.position, elapsed_s=round(final.elapsed_s, 3), stopped_early=run.stopped_early)
    return 1 if final.failed or undelivered else 0


@contextmanager
def _nothing() -> Iterator[Any]:
    yield None


def _control_log(path: Path | None, stream: dict[str, Any]) -> ControlLog | None:
    if path is None:
        return None
    try:
        return ControlLog(path, stream)
    except OSError as error:
        raise UsageError(f"--control-log {path}: cannot write ({error.strerror})") from None


@contextmanager
def _control_server(controller: Controller | None, settings: Settings, host: str, port: int | None
                    ) -> Iterator[None]:
    """The control API on `port` for the run's lifetime (nothing without a port)."""
    if port is None or controller is None or settings.control_api_key is None:
        yield
        return
    from synfinance.producers.control_api import ControlServer  # FastAPI and uvicorn: only when asked for

    server = ControlServer(controller, settings.control_api_key.get_secret_value(), host, port)
    try:
        server.start()
    except OSError as error:
        raise UsageError(f"--control-port {port}: {error}") from None
    try:
        yield
    finally:
        server.stop()
