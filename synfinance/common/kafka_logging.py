"""librdkafka's log lines and client errors, one line per distinct problem.

Left to itself, librdkafka prints every refused connection attempt to stderr: `synfinance sink` with an
unreachable broker printed ~290 identical lines before its one-line error. So every confluent-kafka client
we create passes `client_logging()` in its config (Kafka's own `logger` setting, pointing at the one
`CLIENT_LOG` of the process; `kafka_clients.client_config` adds it with the other client defaults), and
the clients with an `error_cb` of their own hand the non-fatal errors they do not handle to `CLIENT_LOG.error`.

A problem is its message with broker addresses, ports, broker ids and numbers replaced by `#` (the same
refused connection from a producer's log and from its error callback is one problem). Its first
occurrence is logged on the `synfinance.kafka` logger (so a command's own log format applies) as
`kafka FACILITY: message`; later ones are counted, and the next occurrence at least `remind_s` after
the last line logs it again with the count (a broker down for an hour says so once a minute, not
thousands of times). librdkafka's notices and infos go to debug: they are not problems. Benign transients
go to debug too: an idempotent or transactional producer retrying while the broker's coordinator loads
(`GETPID ... Coordinator load in progress: retrying`, once per fresh broker). Nothing here decides an
outcome: the error a command finally reports is its own line, never filtered.

Logs reach the filter when the client serves its queue (`poll`, `consume`, `flush`); an `AdminClient`
that is never polled keeps them to itself, and its failures reach the caller as exceptions anyway.

>>> ClientLog.problem("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
...                   "(after 3ms in state CONNECT)")
'#: Connect to # failed: Connection refused (after #ms in state CONNECT)'
"""

from __future__ import annotations

import builtins
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CLIENT_LOG", "ClientLog", "client_logging"]

REMIND_S = 60.0  # a problem that keeps happening is logged again, with its count, at most this often
_MAX_PROBLEMS = 1000  # distinct problems remembered; a flood of distinct ones starts over
# host:port with an optional librdkafka broker suffix (`/bootstrap`, `/1`), IPv4, IPv6 or a name
_ADDRESS = re.compile(r"(?:ipv[46]#)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d+(?:/[A-Za-z0-9_-]+)?")
_NUMBER = re.compile(r"\d+")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]:\s*")
# retried by librdkafka until they pass; nothing for a user to do (a fresh broker loading its coordinator)
_BENIGN = ("Coordinator load in progress", "Coordinator not available", "Not coordinator")


class KafkaErrorLike(Protocol):
    """What `ClientLog.error` reads of a confluent-kafka `KafkaError` (whose method `str` shadows the builtin
    inside this class body, hence `builtins.str`)."""

    def str(self) -> builtins.str: ...
    def name(self) -> builtins.str: ...
    def fatal(self) -> bool: ...


@dataclass
class _Seen:
    last_logged: float
    repeats: int = 0  # occurrences since the last line
    total: int = 1


class ClientLog:
    """A confluent-kafka `logger` (it calls `log(level, "%s [%s] %s", facility, client, message)`) that
    logs each distinct problem once, then counts it (see the module docstring)."""

    def __init__(self, logger: logging.Logger | None = None, remind_s: float = REMIND_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger or logging.getLogger("synfinance.kafka")
        self.remind_s = remind_s
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()  # clients serve their queues on whichever thread polls them

    @staticmethod
    def problem(message: str) -> str:
        """The problem a message reports: addresses and numbers replaced by `#`."""
        return _NUMBER.sub("#", _ADDRESS.sub("#", _THREAD.sub("", message)))

    def log(self, level: int, _format: str = "", facility: str = "", _client: str = "", message: str = "",
            *_: Any) -> None:
        """What confluent-kafka calls for each librdkafka log line."""
        message = _THREAD.sub("", str(message))
        if level < logging.WARNING or any(benign in message for benign in _BENIGN):
            level = logging.DEBUG
        self.report(level, str(facility), message)

    def error(self, error: KafkaErrorLike) -> None:
        """For an `error_cb`: a client error, logged as a warning (an error if fatal), once per problem."""
        self.report(logging.ERROR if error.fatal() else logging.WARNING, error.name().lstrip("_"), error.str())

    def report(self, level: int, facility: str, message: str) -> None:
        """Log `message` as `kafka FACILITY: message` unless its problem was logged less than `remind_s` ago
        (then count it); below WARNING it is not a problem: passed on at debug, neither counted nor held."""
        if level < logging.WARNING:
            self.logger.debug("kafka %s: %s", facility, message)
            return
        key, now = self.problem(message), self.clock()
        repeats, since = 0, 0.0
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                if len(self._seen) >= _MAX_PROBLEMS:
                    self._seen.clear()
                self._seen[key] = _Seen(now)
            elif now - seen.last_logged >= self.remind_s:
                repeats, since = seen.repeats, now - seen.last_logged
                seen.repeats, seen.last_logged = 0, now
                seen.total += 1
            else:
                seen.repeats += 1
                seen.total += 1
                return
        if not repeats:
            self.logger.log(level, "kafka %s: %s", facility, message)
        else:
            self.logger.log(level, "kafka %s: %s (%d more times in the %.0f s before)", facility, message,
                            repeats, since)

    def counts(self) -> dict[str, int]:
        """Occurrences of each problem so far (logged or not), by problem."""
        with self._lock:
            return {key: seen.total for key, seen in self._seen.items()}


CLIENT_LOG = ClientLog()


def client_logging() -> dict[str, Any]:
    """The config entries every confluent-kafka client of ours gets: `{**config, **client_logging()}`."""
    return {"logger": CLIENT_LOG}
