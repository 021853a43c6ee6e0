"""The processor's Kafka plumbing: internal topics, reading a partition to its end, the transactional producer.

Thin wrappers over confluent-kafka (Kafka's own config names pass through). The worker's hot path uses
the clients directly; these are the setup and recovery steps around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.assign import READ_TO_END, assign_promptly
from synfinance.common.errors import Conflict, broker_unreachable
from synfinance.common.kafka_logging import client_logging

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact", "message.timestamp.type": "CreateTime"}
OUTPUT_PRODUCER = {
    "acks": "all", "enable.idempotence": True, "compression.type": "lz4",
    # the generator's partitioner: outputs keyed by customer land like the inputs (see producers/kafka.py)
    "partitioner": "murmur2_random",
    "linger.ms": 20, "batch.size": 1_000_000, "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000, "transaction.timeout.ms": 60_000,
}


def partition_counts(kafka: Mapping[str, Any], topics: list[str], timeout: float = 15.0) -> dict[str, int]:
    """Partition count of each topic; `Conflict` naming the first missing one."""
    admin = AdminClient({**kafka, **client_logging(), "socket.connection.setup.timeout.ms": 5000})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise broker_unreachable(str(kafka.get("bootstrap.servers")), error.args[0].str()) from None
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
    admin = AdminClient({**kafka, **client_logging()})
    existing = admin.list_topics(timeout=timeout).topics.get(name)
    if existing is None or existing.error is not None:
        futures = admin.create_topics([NewTopic(name, partitions, replication, config=COMPACTED)])
        try:
            futures[name].result(timeout)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        deadline = time.monotonic() + timeout  # metadata reaches every client a moment later
        while name not in admin.list_topics(timeout=timeout).topics and time.monotonic() < deadline:
            time.sleep(0.1)
        return
    if len(existing.partitions) != partitions:
        raise Conflict(f"topic {name} has {len(existing.partitions)} partitions, the source topics {partitions}: "
                         "state must be partitioned like its source; delete it or use another --group")


def read_to_end(kafka: Mapping[str, Any], partitions: list[TopicPartition], timeout: float = 120.0,
                batch: int = 10_000) -> Iterator[Message]:
    """Every committed record of the partitions from the beginning to their current end."""
    if not partitions:
        return
    consumer = Consumer({**kafka, "group.id": "synfin-processor-restore", "enable.auto.commit": False,
                         "isolation.level": "read_committed", **READ_TO_END, **client_logging()})
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
        self._producer = Producer({**kafka, **OUTPUT_PRODUCER, "transactional.id": transactional_id,
                                   **client_logging()})
        # fences any older process with this id: its open transaction is aborted, its sends fail
        self._producer.init_transactions(timeout)
        self._producer.begin_transaction()

    def produce(self, topic: str, value: bytes | None, key: bytes | None, timestamp: int = 0,
                headers: list[tuple[str, bytes]] | None = None, partition: int = -1) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
                return
            except BufferError:  # queue full: deliveries drain it
                self._producer.poll(0.05)

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
