"""The Faust app that hosts a processor worker: lifecycle, signals, web endpoints, metrics.

Faust does what it is good at here: a worker process with ordered startup and shutdown (SIGTERM/SIGINT
stop it cleanly), and a web server with `/metrics` (Prometheus), `/healthz` (liveness: the loop runs)
and `/readyz` (readiness: partitions assigned and a Kafka transaction committed recently). The event path
is `processors.worker`, a confluent-kafka loop in a thread of this process: Faust's per-event machinery
would cap it at about half the throughput target (bench/bench_process.py measures both). So the boot
strategy turns Faust's own Kafka consumer and producer off: it joins no group and creates no topics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Any

import faust
from faust.app.base import BootStrategy
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from synfinance.processors.metrics import ProcessorMetrics
from synfinance.processors.worker import Worker, WorkerConfig

log = logging.getLogger(__name__)
READY_WITHIN_S = 30.0  # /readyz fails when no transaction was committed for this long


class _WebOnly(BootStrategy):
    enable_kafka = False  # the worker thread owns the Kafka clients


class ProcessorApp(faust.App):
    BootStrategy = _WebOnly


class WorkerHost:
    """Runs `Worker` in a thread; records how it ended so the command can set its exit code."""

    def __init__(self, config: WorkerConfig, metrics: ProcessorMetrics) -> None:
        self.config, self.metrics = config, metrics
        self.worker: Worker | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name="synfin-processor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.worker = Worker(self.config, self.metrics)
            self.worker.run()
        except BaseException as exc:  # reported by the command; the process exits non-zero
            self.error = exc
            log.error("processor worker failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.finished.set()
            if not self._stop_requested:
                # the loop ended by itself (idle, or an error): stop the Faust worker around it the way
                # a signal would, so shutdown runs in order
                os.kill(os.getpid(), signal.SIGTERM)

    def stop(self, timeout: float = 60.0) -> None:
        self._stop_requested = True
        if self.worker is not None:
            self.worker.stop()
        self._thread.join(timeout)

    @property
    def ready(self) -> bool:
        worker = self.worker
        return (worker is not None and worker.ready and not self.finished.is_set()
                and time.monotonic() - worker.last_commit < READY_WITHIN_S)


def build_app(config: WorkerConfig, web_port: int | None, web_host: str = "127.0.0.1") -> tuple[faust.App, WorkerHost]:
    """The Faust app and the host of its worker thread (`web_port=None`: no web server)."""
    metrics = ProcessorMetrics()
    host = WorkerHost(config, metrics)
    app = ProcessorApp(f"{config.group}-{config.worker_id}", broker=f"kafka://{config.kafka['bootstrap.servers']}",
                       web_enabled=web_port is not None, web_port=web_port or 6066, web_host=web_host,
                       web_bind=web_host)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        alive = not host.finished.is_set()
        return web.json({"alive": alive}, status=200 if alive else 503)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = host.ready
        return web.json({"ready": ready}, status=200 if ready else 503)

    @app.service
    class Host(faust.Service):
        async def on_start(self) -> None:
            host.start()

        async def on_stop(self) -> None:
            await self.loop.run_in_executor(None, host.stop)

    return app, host


def run_worker(config: WorkerConfig, web_port: int | None, loglevel: str = "warning",
               web_host: str = "127.0.0.1") -> int:
    """Run one worker until a signal or its own end; 0 if it ended cleanly, 1 if it failed."""
    app, host = build_app(config, web_port, web_host)
    with contextlib.suppress(SystemExit):  # mode's worker always ends with SystemExit
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    return 1 if host.error is not None else 0
