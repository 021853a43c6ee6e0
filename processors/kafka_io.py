"""The processor's Kafka plumbing: internal topics, reading a partition to its end, the transactional producer.

Thin wrappers over confluent-kafka (Kafka's own config names pass through), on the shared plumbing of
`synfinance.common.kafka_clients` (client defaults, the full-queue policy, topic create-and-wait). The worker's
hot path uses the clients directly; these are the setup and recovery steps around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.assign import READ_TO_END, assign_promptly
from synfinance.common.dead_letters import produce_dead_letter
from synfinance.common.errors import Conflict
from synfinance.common.kafka_clients import (
    KEYED_PRODUCER,
    KafkaHeaders,
    client_config,
    cluster_metadata,
    create_topics,
    produce_when_room,
)

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact", "message.timestamp.type": "CreateTime"}
# the generator's partitioner (KEYED_PRODUCER): outputs keyed by customer land like the inputs
OUTPUT_PRODUCER = {
    **KEYED_PRODUCER,
    "linger.ms": 20, "batch.size": 1_000_000, "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000, "transaction.timeout.ms": 60_000,
}


def partition_counts(kafka: Mapping[str, Any], topics: list[str], timeout: float = 15.0) -> dict[str, int]:
    """Partition count of each topic; `Conflict` naming the first missing one."""
    metadata = cluster_metadata(AdminClient(client_config(kafka)), kafka, timeout)
    counts = {}
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            raise Conflict(f"topic {name} does not exist: run `synfinance topics create` (or produce) first")
        counts[name] = len(topic.partitions)
    return counts


def ensure_compacted(kafka: Mapping[str, Any], name: str, partitions: int, replication: int = -1,
                     timeout: float = 30.0) -> None:
    """Create the compacted topic `name` if missing (replicated as the cluster's default.replication.factor
    says unless `replication` is given); `Conflict` if it exists with another partition count."""
    admin = AdminClient(client_config(kafka))
    existing = cluster_metadata(admin, kafka, timeout).topics.get(name)
    if existing is None or existing.error is not None:
        metadata, raced = create_topics(admin, [NewTopic(name, partitions, replication, config=COMPACTED)], timeout)
        # another worker may have created it first: then it is checked like one that existed
        existing = metadata.topics.get(name) if raced else None
    if existing is not None and existing.error is None and len(existing.partitions) != partitions:
        raise Conflict(f"topic {name} has {len(existing.partitions)} partitions, the source topics {partitions}: "
                         "state must be partitioned like its source; delete it or use another --group")


def read_to_end(kafka: Mapping[str, Any], partitions: list[TopicPartition], timeout: float = 120.0,
                batch: int = 10_000) -> Iterator[Message]:
    """Every committed record of the partitions from the beginning to their current end."""
    if not partitions:
        return
    consumer = Consumer(client_config({**kafka, "group.id": "synfin-processor-restore", "enable.auto.commit": False,
                                       "isolation.level": "read_committed", **READ_TO_END}))
    try:
        assign_promptly(consumer, [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in partitions],
                        timeout)
        remaining = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read {sorted(remaining)} to the end in {timeout:.0f} s")
            for message in consumer.consume(batch, timeout=0.5):
                error = message.error()
                if error is None:
                    yield message
                elif error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard((message.topic(), message.partition()))
                else:
                    raise KafkaException(error)
    finally:
        consumer.close()


class TransactionalProducer:
    """A transactional producer that always has a transaction open; `commit` ends it and opens the next."""

    def __init__(self, kafka: Mapping[str, Any], transactional_id: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._producer = Producer(client_config({**kafka, **OUTPUT_PRODUCER, "transactional.id": transactional_id}))
        # fences any older process with this id: its open transaction is aborted, its sends fail
        self._producer.init_transactions(timeout)
        self._producer.begin_transaction()

    def produce(self, topic: str, value: bytes | None, key: bytes | None, timestamp: int = 0,
                headers: KafkaHeaders | None = None, partition: int = -1) -> None:
        produce_when_room(self._producer, topic, value, key, timestamp=timestamp, headers=headers, partition=partition)

    def dead_letter(self, topic: str, message: Message, error: Exception) -> None:
        """Send the consumed `message` to the dead-letter topic in this transaction, with why (`error`)
        and where it came from (`synfinance.common.dead_letters`)."""
        produce_dead_letter(self._producer, topic, message, type(error).__name__, str(error), "processor")

    def poll(self) -> None:
        self._producer.poll(0)

    def commit(self, offsets: list[TopicPartition], group_metadata: Any,
               on_retry: Callable[[KafkaError], None] | None = None) -> None:
        """Commit what was produced together with the consumer offsets, then begin the next transaction.
        A retriable failure is retried; an abortable or fatal one raises (the worker restarts from the last
        commit: nothing of the failed transaction is visible to read_committed consumers)."""
        for attempt in range(5):
            try:
                if offsets:
                    self._producer.send_offsets_to_transaction(offsets, group_metadata, self.timeout)
                self._producer.commit_transaction(self.timeout)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or attempt == 4:
                    raise
                if on_retry is not None:
                    on_retry(error)
        self._producer.begin_transaction()

    def close(self) -> None:
        try:
            self._producer.abort_transaction(10.0)
        except KafkaException as error:
            log.debug("abort on close: %s", error)
        self._producer.flush(10.0)
