"""Dead-letter headers: why a component refused a record and where it came from.

Every component that dead-letters (the sink, the processor) writes the same headers, so one consumer
of the dead-letter topic can read them all: the record's own headers, then ``synfin-error-class``,
``synfin-error-message``, ``synfin-source-topic``, ``synfin-source-partition``, ``synfin-source-offset``
and ``synfin-component``.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["COMPONENT", "ERROR_CLASS", "ERROR_MESSAGE", "SOURCE_OFFSET", "SOURCE_PARTITION", "SOURCE_TOPIC",
           "headers"]

ERROR_CLASS = "synfin-error-class"
ERROR_MESSAGE = "synfin-error-message"
SOURCE_TOPIC = "synfin-source-topic"
SOURCE_PARTITION = "synfin-source-partition"
SOURCE_OFFSET = "synfin-source-offset"
COMPONENT = "synfin-component"
_MAX_MESSAGE_CHARS = 1000  # a header, not a log file


class ConsumedRecord(Protocol):
    """What a dead letter needs of a consumed record (confluent-kafka's `Message` has it)."""

    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


def headers(message: ConsumedRecord, error_class: str, error: str, component: str) -> list[tuple[str, bytes]]:
    """The record's own headers, then why `component` refused it and where it came from."""
    return [*(message.headers() or []),
            (ERROR_CLASS, error_class.encode()),
            (ERROR_MESSAGE, error[:_MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
            (SOURCE_TOPIC, str(message.topic()).encode()),
            (SOURCE_PARTITION, str(message.partition()).encode()),
            (SOURCE_OFFSET, str(message.offset()).encode()),
            (COMPONENT, component.encode())]
