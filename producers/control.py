"""Controls of a running produce run: what may change, when it takes effect, and the log that replays it.

Controls come from the control API's threads (`producers.control_api`), or from a control log being
replayed. The run applies them on its own thread, at the boundary between two slices
(`Controller.apply_due`), so a change never lands in the middle of a pacing decision. The API's threads
wait for the result. A control applied at stream position P takes effect from transaction P on.

| action | value | effect |
|---|---|---|
| `profile` | a `--profile` string | the pace from now (`Pacer.switch`); `PUT /rate R` is `constant:R` |
| `pause` / `resume` | none | stop sending, go on; the profile's clock stands still meanwhile |
| `incident` | `Incident.as_dict()` | adds its transactions to the stream (`producers.incidents`) |

Only incidents change what is sent. The pace and the pauses decide when records go, never their keys,
values or timestamps. In simulated time, a run that replays a control log therefore sends the records
of the run that wrote it. Each incident is applied at its logged position, and each pause is held for
its logged length.

The log is JSON lines. The first line names the stream (id, seed, shard), and a replay of another
stream is refused. Every later line is one applied control: `{"position", "action", "value",
"elapsed_s"}`. A resume line also has `paused_s`.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from synfinance.common.errors import InvalidInput
from synfinance.producers.incidents import Incident
from synfinance.producers.profile_syntax import parse_profile

__all__ = ["ACTIONS", "Control", "ControlLog", "Controlled", "Controller", "read_control_log"]

log = logging.getLogger("synfinance.producers.control")
Action = Literal["profile", "pause", "resume", "incident"]
ACTIONS: tuple[Action, ...] = ("profile", "pause", "resume", "incident")
LOG_FORMAT = 1


@dataclass(frozen=True)
class Control:
    """One change, checked when it is made (ValueError: a one-line reason)."""

    action: Action
    value: Any = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown control {self.action!r}: expected one of {', '.join(ACTIONS)}")
        if self.action == "profile":
            try:
                parse_profile(str(self.value))
            except InvalidInput as error:
                raise ValueError(str(error)) from None
        elif self.action == "incident":
            Incident.from_dict(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "value": self.value}


@dataclass(frozen=True)
class LoggedControl:
    position: int
    control: Control
    paused_s: float = 0.0


class Controlled(Protocol):
    """What the controller needs of the run (`producers.producer.ProduceRun`)."""

    position: int

    def apply_control(self, control: Control) -> dict[str, Any]: ...
    def hold_paused(self, seconds: float | None) -> float: ...
    def status(self) -> dict[str, Any]: ...


class ControlLog:
    """Writes the applied controls, one JSON line each, flushed at once (a killed run keeps its log)."""

    def __init__(self, path: Path, stream: dict[str, Any]) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._write({"synfinance_control_log": LOG_FORMAT, **stream})

    def write(self, position: int, control: Control, elapsed_s: float, paused_s: float | None = None) -> None:
        entry: dict[str, Any] = {"position": position, **control.as_dict(), "elapsed_s": round(elapsed_s, 3)}
        if paused_s is not None:
            entry["paused_s"] = round(paused_s, 3)
        self._write(entry)

    def _write(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_control_log(path: Path, stream: dict[str, Any]) -> list[LoggedControl]:
    """The controls of a log written for `stream` (the same id, seed and shard), in the order applied."""
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--replay-controls {path}: not a control log ({error})") from None
    if not lines or lines[0].get("synfinance_control_log") != LOG_FORMAT:
        raise ValueError(f"--replay-controls {path}: not a control log (no header line)")
    written_for = {name: lines[0].get(name) for name in stream}
    if written_for != stream:
        raise ValueError(f"--replay-controls {path}: written for stream {written_for}, not this run's {stream}")
    entries = []
    try:
        for entry in lines[1:]:
            entries.append(LoggedControl(int(entry["position"]), Control(entry["action"], entry.get("value")),
                                         float(entry.get("paused_s", 0.0))))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"--replay-controls {path}: bad entry ({error})") from None
    if any(b.position < a.position for a, b in itertools.pairwise(entries)):
        raise ValueError(f"--replay-controls {path}: positions go backwards")
    return entries


class Controller:
    """Hands controls from other threads and from a replayed log to the run, logs them, answers status."""

    def __init__(self, replay: list[LoggedControl] | None = None, log_to: ControlLog | None = None,
                 on_change: Callable[[Control], None] | None = None) -> None:
        self._changes: queue.SimpleQueue[tuple[Control, Future[dict[str, Any]]]] = queue.SimpleQueue()
        self._status_asked: queue.SimpleQueue[Future[dict[str, Any]]] = queue.SimpleQueue()
        self._replay = list(replay or [])
        self._log, self._on_change = log_to, on_change
        self._closed = threading.Event()
        self._elapsed: Callable[[], float] = lambda: 0.0

    # -- other threads --------------------------------------------------------------------------

    def submit(self, control: Control, timeout: float = 10.0) -> dict[str, Any]:
        """Apply `control` at the run's next slice; its result. ValueError: refused (a one-line reason);
        RuntimeError: the run has ended or did not answer."""
        future = self._future()
        self._changes.put((control, future))
        return self._answer(future, timeout)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """The run's live statistics, taken on its own thread."""
        future = self._future()
        self._status_asked.put(future)
        return self._answer(future, timeout)

    def _future(self) -> Future[dict[str, Any]]:
        if self._closed.is_set():
            raise RuntimeError("the run has ended")
        return Future()

    @staticmethod
    def _answer(future: Future[dict[str, Any]], timeout: float) -> dict[str, Any]:
        try:
            return future.result(timeout)
        except TimeoutError:
            raise RuntimeError(f"the run did not answer within {timeout:g} s") from None

    # -- the run's thread -----------------------------------------------------------------------

    def start(self, elapsed: Callable[[], float]) -> None:
        self._elapsed = elapsed

    def next_position(self) -> int | None:
        """Where the next replayed control applies (the run cuts its slices there), if any."""
        return self._replay[0].position if self._replay else None

    def serve_status(self, run: Controlled) -> None:
        """Answer waiting status requests (safe mid-slice: changes wait for `apply_due`)."""
        while not self._status_asked.empty():
            self._status_asked.get().set_result(run.status())

    def apply_due(self, run: Controlled) -> None:
        """At a slice boundary: the replayed controls of this position, then those submitted since."""
        while self._replay and self._replay[0].position <= run.position:
            logged = self._replay.pop(0)
            if logged.control.action == "resume":
                run.hold_paused(logged.paused_s)  # the pause as long as it was
            self._apply(run, logged.control)
        while not self._changes.empty():
            control, future = self._changes.get()
            try:
                future.set_result(self._apply(run, control))
            except ValueError as error:
                future.set_exception(error)

    def _apply(self, run: Controlled, control: Control) -> dict[str, Any]:
        position = run.position
        result = run.apply_control(control)
        paused_s = result.get("paused_s") if control.action == "resume" else None
        if self._log is not None:
            self._log.write(position, control, self._elapsed(), paused_s)
        value = "" if control.value is None else f" {json.dumps(control.value)}"
        log.info("control %s%s applied at position %d", control.action, value, position,
                 extra={"action": control.action, "position": position})
        if self._on_change is not None:
            self._on_change(control)
        return {"position": position, **control.as_dict(), **result}

    def close(self) -> None:
        """The run has ended: refuse new requests and fail those still waiting."""
        self._closed.set()
        ended = RuntimeError("the run has ended")
        while not self._changes.empty():
            self._changes.get()[1].set_exception(ended)
        while not self._status_asked.empty():
            self._status_asked.get().set_exception(ended)
        if self._log is not None:
            self._log.close()
