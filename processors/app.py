"""The Faust app that hosts a processor worker: lifecycle, signals, web endpoints, metrics.

Faust does what it is good at here: a worker process with ordered startup and shutdown (SIGTERM/SIGINT
stop it cleanly), and a web server with `/metrics` (Prometheus), `/healthz` (liveness: the loop runs)
and `/readyz` (readiness: partitions assigned and a Kafka transaction committed recently). The event path
is `processors.worker`, a confluent-kafka loop in a thread of this process: Faust's per-event machinery
would cap it at about half the throughput target (bench/bench_process.py measures both). So the boot
strategy turns Faust's own Kafka consumer and producer off: it joins no group and creates no topics.
Logging is `synfinance.common.logs`' alone: Faust's worker would replace the root logger's handlers with its
own (on stdout, in its own format) and redirect stdout into the log, so it is told to leave them be.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import faust
from confluent_kafka import KafkaException
from faust.app.base import BootStrategy
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from synfinance.common import logs
from synfinance.common.errors import SynfinError
from synfinance.processors.metrics import ProcessorMetrics, Totals
from synfinance.processors.worker import PartitionsLost, Worker
from synfinance.processors.worker_config import WorkerConfig

log = logging.getLogger(__name__)
READY_WITHIN_S = 30.0  # /readyz fails when no transaction was committed for this long
STALL_EXIT_CODE = 3  # `on_stall="exit"`: the loop stopped turning (processors.watchdog); a supervisor restarts it
STALL_GRACE_S = 2.0  # /healthz says not alive this long before the process exits


class _WebOnly(BootStrategy):
    enable_kafka = False  # the worker thread owns the Kafka clients


class ProcessorApp(faust.App):
    BootStrategy = _WebOnly


class WorkerHost:
    """Runs `Worker` in a thread; records how it ended so the command can set its exit code."""

    def __init__(self, config: WorkerConfig, metrics: ProcessorMetrics, on_stall: str = "restart") -> None:
        self.config, self.metrics, self.on_stall = config, metrics, on_stall
        # Faust wants a data directory (its default is `<app id>-data` in the working directory); this app
        # keeps no tables in it, so it is a scratch directory removed when the process ends or is replaced
        self.scratch = tempfile.mkdtemp(prefix=f"synfin-{config.group}-{config.worker_id}-")
        self.worker: Worker | None = None
        self.error: BaseException | None = None
        self.stalled: str | None = None
        self.finished = threading.Event()
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name="synfin-processor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.worker = Worker(self.config, self.metrics)
            if self._stop_requested:  # a stop while the worker was being built (it restores for seconds)
                self.worker.stop()  # it found no worker to tell: run() now ends at once
            self.worker.watchdog.watch(self._on_stall)
            self.worker.run()
        except PartitionsLost as exc:  # as a stall: a fresh process resumes from the last commit
            self._on_stall(f"{exc} (the group moved on while this worker could not reach it)")
        except KafkaException as exc:
            if not exc.args[0].fatal():
                self._fail(exc)
            else:  # e.g. fenced by a worker that saw this id leave the group: the same as a stall
                self._on_stall(f"the transactional producer failed: {exc.args[0].str()}")
        except BaseException as exc:  # reported by the command; the process exits non-zero
            self._fail(exc)
        finally:
            self.finished.set()
            if not self._stop_requested and self.stalled is None:  # a stalled worker's process is replaced
                # the loop ended by itself (idle, or an error): stop the Faust worker around it the way
                # a signal would, so shutdown runs in order
                os.kill(os.getpid(), signal.SIGTERM)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if not isinstance(exc, SynfinError):  # a user's problem is the command's one line, not a log
            log.error("processor worker failed: %s: %s", type(exc).__name__, exc,
                      extra={"worker": self.config.worker_id, "error_class": type(exc).__name__})

    def _on_stall(self, reason: str) -> None:
        """One line, not alive on /healthz, then a fresh process: the stuck thread cannot be stopped, and a
        new one with the same transactional id fences the old and resumes from its last commit."""
        self.stalled = reason
        then = "restarting" if self.on_stall == "restart" else f"exiting with code {STALL_EXIT_CODE}"
        log.error("processor worker %s stalled: %s; %s to resume from its last committed transaction",
                  self.config.worker_id, reason, then,
                  extra={"worker": self.config.worker_id, "on_stall": self.on_stall})
        threading.Timer(STALL_GRACE_S, self._leave).start()

    def _leave(self) -> None:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self.remove_scratch()
        if self.on_stall == "restart":
            os.execv(sys.executable, sys.orig_argv)  # the same command, in this process's place
        os._exit(STALL_EXIT_CODE)

    def remove_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    @property
    def alive(self) -> bool:
        return not self.finished.is_set() and self.stalled is None

    def stop(self, timeout: float = 60.0) -> None:
        self._stop_requested = True  # before reading `worker`: `_run` sets `worker`, then reads this
        if self.worker is not None:
            self.worker.stop()
        self._thread.join(timeout)

    @property
    def ready(self) -> bool:
        worker = self.worker
        return (worker is not None and worker.ready and not self.finished.is_set()
                and time.monotonic() - worker.last_commit < READY_WITHIN_S)


def build_app(config: WorkerConfig, web_port: int | None, web_host: str = "127.0.0.1",
              on_stall: str = "restart") -> tuple[faust.App, WorkerHost]:
    """The Faust app and the host of its worker thread (`web_port=None`: no web server)."""
    metrics = ProcessorMetrics()
    host = WorkerHost(config, metrics, on_stall)
    app = ProcessorApp(f"{config.group}-{config.worker_id}", broker=f"kafka://{config.kafka['bootstrap.servers']}",
                       web_enabled=web_port is not None, web_port=web_port or 6066, web_host=web_host,
                       web_bind=web_host, datadir=host.scratch)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        alive = host.alive
        body = {"alive": alive} if host.stalled is None else {"alive": False, "stalled": host.stalled}
        return web.json(body, status=200 if alive else 503)

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


@dataclass(frozen=True)
class WorkerOutcome:
    """How a worker ended: `error` None if cleanly (a signal or idleness), and what it did."""

    error: BaseException | None
    totals: Totals


def run_worker(config: WorkerConfig, web_port: int | None, loglevel: str = "warning",
               web_host: str = "127.0.0.1", on_stall: str = "restart", log_format: str = "text") -> WorkerOutcome:
    """Run one worker until a signal or its own end, logging in `log_format` (text or json). A stalled worker
    (`on_stall`) replaces its process with a fresh one ("restart") or exits with STALL_EXIT_CODE ("exit")."""
    logs.configure(loglevel, log_format, "process")
    app, host = build_app(config, web_port, web_host, on_stall)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    if worker.spinner is not None and not worker.spinner.file.isatty():
        # Faust's start-up spinner hides the cursor with an escape code even when it draws nothing
        worker.spinner = None
    try:
        with contextlib.suppress(SystemExit):  # mode's worker always ends with SystemExit
            worker.execute_from_commandline()
    finally:
        host.remove_scratch()
    return WorkerOutcome(host.error, host.metrics.totals())
