"""Dead-letter headers: why a component refused a record and where it came from.

Every component that dead-letters (the sink, the processor) writes the same headers, so one consumer
of the dead-letter topic can read them all: the record's own headers, then ``synfin-error-class``,
``synfin-error-message``, ``synfin-source-topic``, ``synfin-source-partition``, ``synfin-source-offset``
and ``synfin-component``. `produce_dead_letter` writes one: the original key, value and timestamp (SPEC §2:
"original bytes"), those headers, through the one full-queue policy of `kafka_clients`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from confluent_kafka import Producer

from synfinance.common.kafka_clients import DeliveryCallback, KafkaHeaders, produce_when_room

__all__ = ["COMPONENT", "ERROR_CLASS", "ERROR_MESSAGE", "SOURCE_OFFSET", "SOURCE_PARTITION", "SOURCE_TOPIC",
           "SourceRecord", "headers", "produce_dead_letter"]

ERROR_CLASS = "synfin-error-class"
ERROR_MESSAGE = "synfin-error-message"
SOURCE_TOPIC = "synfin-source-topic"
SOURCE_PARTITION = "synfin-source-partition"
SOURCE_OFFSET = "synfin-source-offset"
COMPONENT = "synfin-component"
_MAX_MESSAGE_CHARS = 1000  # a header, not a log file


class SourceRecord(Protocol):
    """What a dead letter needs of the consumed record it carries (confluent-kafka's `Message` and
    `kafka_clients.ConsumedMessage` have it)."""

    def headers(self) -> Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


def headers(message: SourceRecord, error_class: str, error: str, component: str) -> KafkaHeaders:
    """The record's own headers, then why `component` refused it and where it came from."""
    own = message.headers() or []  # a consumed record's headers are a list; a dict is what a producer may pass
    return [*(own.items() if isinstance(own, Mapping) else own),
            (ERROR_CLASS, error_class.encode()),
            (ERROR_MESSAGE, error[:_MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
            (SOURCE_TOPIC, str(message.topic()).encode()),
            (SOURCE_PARTITION, str(message.partition()).encode()),
            (SOURCE_OFFSET, str(message.offset()).encode()),
            (COMPONENT, component.encode())]


def produce_dead_letter(producer: Producer, topic: str, message: SourceRecord, error_class: str, error: str,
                        component: str, on_delivery: DeliveryCallback | None = None) -> None:
    """Produce `message` to the dead-letter `topic` as it came (key, value, and its timestamp unless it had
    none: then the producer's clock), with `headers(...)`; a full local queue is waited out, never dropped."""
    timestamp_type, timestamp = message.timestamp()
    produce_when_room(producer, topic, message.value(), message.key(),
                      timestamp=timestamp if timestamp_type and timestamp > 0 else 0,  # 0: the producer's clock
                      headers=headers(message, error_class, error, component), on_delivery=on_delivery)
