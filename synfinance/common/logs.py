"""Log set-up of every long-running command, in one place: `configure(level, fmt, component)`.

`text` (the default) is for a human: `time LEVEL logger: message`. `json` is one object per line on stderr
for a log shipper: `time` (ISO 8601 UTC, milliseconds), `level`, `component` (the command), `logger`,
`message`, the context a log call passes with `extra={...}` (topic, partition, offsets, counts...) and,
for an exception, one `exception` string. Both formats mask secrets: the password of a URL
(`postgresql://user:pw@host`, a SASL or registry URL), `password=...` in a libpq DSN, and any context
field whose name says it holds a secret or whose value is a `SecretStr`, become `**********` (as the
settings print them).

`configure` owns the root logger's one handler: Faust and mode are told not to install theirs
(`processors/app.py`), librdkafka's lines arrive through `synfinance.common.kafka_logging` on the
`synfinance.kafka` logger, and Python `warnings` are routed to logging, so in json mode every line a
command writes to stderr is JSON. `announce` is for the lines a command printed bare before it logged
(its summary): unchanged in text mode, a record with context in json mode. `error_line` is the CLI's
one error line, as text or as a record.

>>> import logging, json
>>> record = logging.LogRecord("synfinance.sink", logging.INFO, __file__, 1, "connecting to %s", (
...     "postgresql://synfin:hunter2@db:5432/synfin",), None)
>>> record.records = 12
>>> entry = json.loads(JsonLines("sink").format(record))
>>> entry["message"], entry["component"], entry["records"]
('connecting to postgresql://synfin:**********@db:5432/synfin', 'sink', 12)
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from synfinance.common.errors import InvalidInput

__all__ = ["COMPONENTS", "FORMATS", "OPTION_HELP", "JsonLines", "TextLines", "announce", "chosen_format",
           "configure", "error_line", "mask", "uses_json"]

FORMATS = ("text", "json")
COMPONENTS = ("produce", "process", "sink", "evaluate", "lag-exporter", "demo")
OPTION_HELP = "Log format on stderr: text, or json (one object per line). Default: SYNFIN_LOG_FORMAT, else text."
MASK = "**********"  # what pydantic's SecretStr prints
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# user:password@ in any URL (libpq, SASL, registry); password=... in a libpq keyword DSN
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):[^\s@/]*@")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|sasl\.password|ssl\.key\.password)\s*=\s*)"
                               r"(?:'[^']*'|\"[^\"]*\"|[^\s,;)}]+)", re.IGNORECASE)
_SECRET_KEY = re.compile(r"password|passwd|secret|api[_.-]?key|token|credential", re.IGNORECASE)
# the attributes every LogRecord has: anything else on a record came from `extra` (or a library's own)
_STANDARD = {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"}
_RESERVED = {"time", "level", "component", "logger", "message", "exception"}

_state: dict[str, str | None] = {"format": None, "component": None}


def mask(text: str) -> str:
    """`text` with URL and DSN passwords replaced by `**********`.

    >>> mask("dsn=postgresql://synfin:s3cret@127.0.0.1:5432/synfin password=s3cret user=synfin")
    'dsn=postgresql://synfin:**********@127.0.0.1:5432/synfin password=********** user=synfin'
    """
    return _KEYWORD_PASSWORD.sub(rf"\g<head>{MASK}", _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text))


def _safe(key: str, value: Any) -> Any:
    """A context value as JSON can hold it, secrets masked (by the field's name, type or text)."""
    if isinstance(value, SecretStr) or (_SECRET_KEY.search(key) and value is not None):
        return MASK
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _safe(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(key, v) for v in value]
    return mask(str(value))


def context(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with `extra={...}`, secrets masked."""
    return {key: _safe(key, value) for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")}


class JsonLines(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {"time": stamp.replace("+00:00", "Z"), "level": record.levelname.lower(),
                                 "component": self.component, "logger": record.name,
                                 "message": mask(record.getMessage())}
        entry.update({key: value for key, value in context(record).items() if key not in _RESERVED})
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = mask(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """`time LEVEL logger: message` (what the commands printed before), secrets masked."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def chosen_format(option: str | None, setting: str) -> str:
    """The log format: the command-line option if given, else the setting; a bad option is an `InvalidInput`."""
    fmt = setting if option is None else option.strip().lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"--log-format {option!r}: expected text or json")
    return fmt


def _level(level: str | int) -> int:
    number = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise InvalidInput(f"--log-level {level!r}: expected debug, info, warning, error or critical")
    return number


def configure(level: str | int, fmt: str, component: str) -> None:
    """Give the root logger one stderr handler in `fmt` at `level` (replacing any), and route `warnings`."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--log-format {fmt!r}: expected text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(component) if fmt == "json" else TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_level(level))
    # a DeprecationWarning from a library is a record, not a bare stderr line. Off first: `captureWarnings(True)`
    # does nothing while logging still holds a hook from an earlier call, even one someone else has since undone
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    if fmt == "json":  # an uncaught exception (a bug) is a record too, not a bare traceback
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    _state.update(format=fmt, component=component)


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    logging.getLogger("synfinance").critical("uncaught %s: %s", kind.__name__, error, exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("synfinance").critical("uncaught %s in thread %s: %s", args.exc_type.__name__, thread,
                                             args.exc_value, exc_info=exc_info, extra={"thread_name": thread})


def uses_json() -> bool:
    """Whether this process logs JSON (`configure` was called with "json")."""
    return _state["format"] == "json"


def announce(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """A line the command always shows (its summary): bare on stderr as text, a record with `fields` as json.

    Always shown in json mode too, whatever the level of the logger: it is the command's output."""
    if not uses_json():
        print(message, file=sys.stderr, flush=True)
        return
    record = logger.makeRecord(logger.name, level, "(announce)", 0, message, None, None, extra=fields)
    for handler in logging.getLogger().handlers:
        handler.handle(record)


def error_line(message: str, level: int = logging.ERROR, prefix: str = "error: ", **fields: Any) -> None:
    """The CLI's one error line: `synfinance: error: ...`, or in json mode an error record of the command."""
    if uses_json():
        announce(logging.getLogger("synfinance"), message, level, **fields)
    else:
        print(f"synfinance: {prefix}{message}", file=sys.stderr)
