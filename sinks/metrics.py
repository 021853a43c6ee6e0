"""The sink's Prometheus metrics, and the small HTTP server for ``/metrics``, ``/healthz``, ``/readyz``.

Metric names (what ``infra/`` dashboards and alert rules may reference):

* ``synfin_sink_records_total{topic}``: messages consumed;
* ``synfin_sink_rows_written_total{table}``: rows inserted or updated;
* ``synfin_sink_rows_duplicate_total{table}``: rows already stored (redeliveries, replays), skipped;
* ``synfin_sink_conflicts_total{table}``: records whose key is stored (or repeated in their batch) with
  other content, not written but sent to the dead-letter topic (``sinks.conflicts``); any is a problem
  upstream;
* ``synfin_sink_dlq_records_total{topic,error_class}``: records sent to the dead-letter topic;
* ``synfin_sink_batch_seconds``: histogram of a batch's write: database transaction, dead letters,
  offset commit;
* ``synfin_e2e_latency_seconds{stage="committed"}``: live event time to the row's commit
  (``synfinance.common.e2e``; the processor exports ``stage="scored"``);
* ``synfin_sink_breaker_state``: database circuit breaker, 0 closed, 1 half-open, 2 open;
  ``synfin_sink_breaker_opens_total``; ``synfin_sink_db_unavailable_total`` (failed attempts);
* ``synfin_sink_paused``: 1 while consumption is paused waiting for the database;
* ``synfin_sink_assigned_partitions``: partitions this process owns in its consumer group;
* with the lag exporter: ``kafka_consumergroup_group_lag`` and ``..._lag_seconds`` (``sinks.lag``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from synfinance.common.e2e import E2E_BUCKETS, E2E_HELP, E2E_METRIC

__all__ = ["BREAKER_STATES", "MetricsServer", "SinkMetrics"]

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class SinkMetrics:
    """The sink's metrics in their own registry (several sinks can live in one test process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records = Counter("synfin_sink_records", "Messages consumed.", ["topic"], registry=r)
        self.rows_written = Counter("synfin_sink_rows_written", "Rows inserted or updated.", ["table"], registry=r)
        self.rows_duplicate = Counter("synfin_sink_rows_duplicate",
                                      "Rows already stored (redeliveries, replays), skipped.", ["table"], registry=r)
        self.conflicts = Counter("synfin_sink_conflicts",
                                 "Records whose key is stored with other content: not written, dead-lettered.",
                                 ["table"], registry=r)
        self.dead_letters = Counter("synfin_sink_dlq_records", "Records sent to the dead-letter topic.",
                                    ["topic", "error_class"], registry=r)
        self.batch_seconds = Histogram(
            "synfin_sink_batch_seconds", "Batch write latency: database transaction, dead letters, offset commit.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=r)
        self.e2e = Histogram(E2E_METRIC, E2E_HELP, ["stage"], buckets=E2E_BUCKETS, registry=r).labels(
            stage="committed")
        self.breaker_state = Gauge("synfin_sink_breaker_state",
                                   "Database circuit breaker: 0 closed, 1 half-open, 2 open.", registry=r)
        self.breaker_opens = Counter("synfin_sink_breaker_opens", "Times the database breaker opened.", registry=r)
        self.db_unavailable = Counter("synfin_sink_db_unavailable",
                                      "Write attempts that failed because the database was unavailable.", registry=r)
        self.paused = Gauge("synfin_sink_paused", "1 while consumption is paused waiting for the database.",
                            registry=r)
        self.assigned = Gauge("synfin_sink_assigned_partitions", "Partitions this process owns in its group.",
                              registry=r)

    def watch_tables(self, tables: Iterable[str]) -> None:
        """Export the per-table counters at 0 from the start: an alert on ``increase()`` sees the first
        conflict only if the series existed before it."""
        for table in tables:
            self.conflicts.labels(table)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """Serves ``/metrics`` (Prometheus), ``/healthz`` (the loop is alive) and ``/readyz`` (broker
    and database usable) on a daemon thread."""

    def __init__(self, metrics: SinkMetrics, port: int, alive: Callable[[], bool], ready: Callable[[], bool],
                 host: str = "127.0.0.1") -> None:
        handler = _handler(metrics, alive, ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="sink-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(metrics: SinkMetrics, alive: Callable[[], bool],
             ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok = alive() if path == "/healthz" else ready()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"not ok\n", "text/plain; charset=utf-8")
            else:
                self._reply(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not news

    return Handler
