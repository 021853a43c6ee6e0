"""The errors a user can fix, and the one the CLI turns into an exit code.

Components (producers, processors, sinks, schemas) and the shared code below them raise a `SynfinError`
subclass that says what went wrong in their own terms: `InvalidInput` (an argument, setting or file they
cannot use), `Unreachable` (a broker, database or registry that did not answer) or `Conflict` (what exists
disagrees with what was asked: a topic configured otherwise, a worker index already in use). The message
names the problem and, where there is one, the fix; `context` holds what a JSON log line of the error
carries besides the message (never a secret).

Only the shell (`synfinance.cli`, `synfinance.commands`, `synfinance.stack`) knows about exit codes: it
prints any `SynfinError` as one line and exits 2, or raises `UsageError` to choose another code (1 for a
state rather than a usage error, such as no stack to print the address of).
"""

from __future__ import annotations

from typing import Any

USAGE_EXIT_CODE = 2


class SynfinError(Exception):
    """A problem the user can fix; the CLI prints it as one line."""

    exit_code = USAGE_EXIT_CODE

    def __init__(self, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.context = context or {}


class InvalidInput(SynfinError):
    """An argument, setting, file or record layout the component cannot use."""


class Unreachable(SynfinError):
    """A service the component needs (Kafka, PostgreSQL, the schema registry) did not answer."""


class Conflict(SynfinError):
    """What exists disagrees with what was asked (an existing topic, a worker index already taken)."""


class UsageError(SynfinError):
    """The shell's own error: one line and `exit_code` (2 unless given)."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT_CODE, context: dict[str, Any] | None = None) -> None:
        super().__init__(message, context)
        self.exit_code = exit_code


def broker_unreachable(bootstrap: str, detail: str) -> Unreachable:
    """The one line for a Kafka broker that did not answer (`detail`: librdkafka's reason)."""
    return Unreachable(f"Kafka broker at {bootstrap} is unreachable ({detail}); start one with "
                       "`synfinance stack up` or set SYNFIN_BOOTSTRAP_SERVERS",
                       context={"bootstrap_servers": bootstrap, "error_class": "BrokerUnreachable"})
