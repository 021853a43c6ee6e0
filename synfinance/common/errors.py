"""The one exception type the CLI turns into a one-line message and a non-zero exit code (2 by default).

Anything a user can cause (a bad setting, a missing tool, an unreachable broker, bad command-line
input) raises `UsageError` with a message that names the problem and, where there is one, the fix.
A state rather than a usage error (no stack to print the address of) may exit 1 instead. `context` holds
what a JSON log line of the error carries besides the message (never a secret).
"""

from __future__ import annotations

from typing import Any


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2 (or the one given)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.context = context or {}


def broker_unreachable(bootstrap: str, detail: str) -> UsageError:
    """The one line for a Kafka broker that did not answer (`detail`: librdkafka's reason)."""
    return UsageError(f"Kafka broker at {bootstrap} is unreachable ({detail}); start one with "
                      "`synfinance stack up` or set SYNFIN_BOOTSTRAP_SERVERS",
                      context={"bootstrap_servers": bootstrap, "error_class": "BrokerUnreachable"})
