"""`synfinance lag-exporter` — the consumer lag of every group as Prometheus gauges, in its own process.

The sink embeds the same exporter (`sinks/lag.py`), but a stopped or stalled sink then takes the lag
with it; run this next to it and the lag stays observable whatever the sink does (#19). Serves /metrics
on `--metrics-port` (SYNFIN_BIND_HOST, loopback by default) until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from synfinance.commands import binding
from synfinance.common import logs
from synfinance.common.errors import UsageError
from synfinance.common.settings import load_settings

DEFAULT_PORT = 9103
log = logging.getLogger("synfinance.lag_exporter")


def lag_exporter(
    metrics_port: int = typer.Option(DEFAULT_PORT, "--metrics-port", min=1, max=65535, help="Serve /metrics here."),
    interval: float = typer.Option(5.0, "--interval", min=0.5, help="Seconds between snapshots."),
    log_format: str | None = typer.Option(None, "--log-format", help=logs.OPTION_HELP),
    bind: str | None = typer.Option(None, "--bind", help=binding.HELP),
) -> None:
    """Export the lag of every consumer group on the cluster (kafka_consumergroup_group_lag[_seconds]).

    Example: synfinance lag-exporter --metrics-port 9103 --interval 5   (then scrape :9103/metrics)
    """
    from prometheus_client import CollectorRegistry, start_http_server

    from synfinance.sinks.lag import LagCollector, LagReader

    settings = load_settings()
    host = binding.bind_host(bind, settings)
    logs.configure("info", logs.chosen_format(log_format, settings.log_format), "lag-exporter")
    registry = CollectorRegistry()
    collector = LagCollector(LagReader(settings.kafka_config()), interval=interval)
    registry.register(collector.start())
    try:
        server, _thread = start_http_server(metrics_port, addr=host, registry=registry)
    except OSError as error:
        collector.stop()
        raise UsageError(f"--metrics-port {metrics_port}: cannot listen ({error.strerror})") from None
    log.info("exporting consumer lag on %s:%d/metrics every %g s", host, metrics_port, interval,
             extra={"metrics_port": metrics_port, "interval_s": interval})
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    server.shutdown()
    collector.stop()
    log.info("stopped", extra={"metrics_port": metrics_port})
