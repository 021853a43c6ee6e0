"""Every record now on a topic: all partitions from the beginning to the end offsets seen at the start."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from synfinance.common.assign import READ_TO_END
from synfinance.common.kafka_logging import client_logging
from synfinance.schemas.codec import CodecError, decode


class TopicMissing(LookupError):
    pass


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0,
               undecodable: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Decoded values of `topic`, partition by partition in offset order; a value that does not decode is
    counted in `undecodable` (one element, incremented) and skipped."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"synfin-validate-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, **READ_TO_END,
                         "socket.connection.setup.timeout.ms": 5000, **client_logging()})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise TopicMissing(f"topic {topic!r} does not exist on {bootstrap}")
        ends = {}
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends:
            messages = consumer.consume(1000, timeout=1.0)
            if not messages and time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r}: no record for {timeout:.0f} s with {len(ends)} "
                                   "partitions unfinished")
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic!r}: {error}")
                    continue
                deadline = time.monotonic() + timeout
                partition, offset = message.partition(), message.offset()
                if offset is None or partition not in ends or offset >= ends[partition]:
                    continue
                if offset + 1 >= ends[partition]:
                    del ends[partition]
                try:
                    yield decode(message.value() or b"")
                except CodecError:
                    if undecodable is not None:
                        undecodable[0] += 1
    finally:
        consumer.close()
