"""The dead-letter topic: records the sink cannot store, kept with why and where they came from.

A dead letter is the original key, value, timestamp and headers, plus headers naming the error
(``synfin-error-class``, ``synfin-error-message``), the source (``synfin-source-topic``,
``synfin-source-partition``, ``synfin-source-offset``) and the component that refused it
(``synfin-component``: ``sink`` or ``processor``), so a person can find, fix and replay it
(`synfinance.common.dead_letters` builds them for every component).
Dead letters are flushed before the sink commits the offsets of their batch: a crash in between
sends them again (at least once), it never loses them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from synfinance.common.dead_letters import produce_dead_letter
from synfinance.common.kafka_clients import KEYED_PRODUCER, ConsumedMessage, client_config

__all__ = ["DeadLetter", "DeadLetterProducer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    """A consumed record the sink will not store, and why."""

    message: ConsumedMessage
    error_class: str
    error: str


class DeadLetterProducer:
    """Produces dead letters (idempotent, acks=all) and reports which ones were not delivered."""

    def __init__(self, kafka_config: dict[str, str], topic: str) -> None:
        self.topic = topic
        # the generator's partitioner, as the processor's producer: a key's dead letters share one partition
        self._producer = Producer(client_config({**kafka_config, **KEYED_PRODUCER, "linger.ms": 5}))

    def send(self, letters: Sequence[DeadLetter], timeout: float = 30.0) -> list[DeadLetter]:
        """Produce ``letters`` and wait for them; returns those that were not delivered.

        Safe to call from several writer threads (each call tracks its own letters)."""
        failed: list[DeadLetter] = []
        for letter in letters:
            self._produce(letter, failed)
        remaining = self._producer.flush(timeout)
        if remaining:
            log.warning("%d dead letters not delivered within %.0f s", remaining, timeout)
            return list(letters)  # which ones is unknown: all are retried (duplicates over loss)
        return failed

    def _produce(self, letter: DeadLetter, failed: list[DeadLetter]) -> None:
        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                log.warning("dead letter not delivered: %s", error)
                failed.append(letter)

        produce_dead_letter(self._producer, self.topic, letter.message, letter.error_class, letter.error, "sink",
                            on_delivery=delivered)

    def close(self, timeout: float = 10.0) -> int:
        """Flush; returns the number of dead letters still undelivered."""
        return int(self._producer.flush(timeout))
