"""The confluent-kafka plumbing every component shares: client defaults, the keyed producer settings,
producing into a full local queue, a cluster's metadata (or the one "broker unreachable" line), and
creating topics then waiting until the metadata lists them.

The components' wrappers (`producers.kafka.KafkaProducer`, `processors.kafka_io.TransactionalProducer`,
`sinks.dlq.DeadLetterProducer`) add their own lifecycle and counters on top of these; Kafka's own config
names pass through unchanged and a caller's config wins over the defaults here.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from synfinance.common.errors import Conflict, Unreachable, broker_unreachable
from synfinance.common.kafka_logging import client_logging

__all__ = ["CLIENT_DEFAULTS", "KEYED_PRODUCER", "ConsumedMessage", "DeliveryCallback", "KafkaHeaders", "client_config",
           "cluster_metadata", "consumed", "create_topics", "metadata_listing", "produce_when_room", "result_within"]

# what confluent-kafka's produce() takes as headers (its stubs: list is invariant, so name the exact type)
KafkaHeaders = list[tuple[str, str | bytes | None]]
DeliveryCallback = Callable[[KafkaError | None, Message], None]
T = TypeVar("T")

CLIENT_DEFAULTS: dict[str, Any] = {
    # fail a connection attempt in seconds, not librdkafka's default 30 s, so the waits around it are ours
    "socket.connection.setup.timeout.ms": 5_000,
}
# Every producer of keyed records: acknowledged by all in-sync replicas, no duplicates or reordering from
# librdkafka's own retries, lz4 batches.
KEYED_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    # murmur2 is what the Java client, aiokafka and so Faust use: the same key lands on the same
    # partition whoever produces it, which keeps transactions, labels and Faust tables co-partitioned
    # (and a key's scores, alerts and dead letters beside its inputs)
    "partitioner": "murmur2_random",
}
# how long a producer whose local queue is full waits for deliveries before it tries again: the queue
# drains as the broker acknowledges, so a short wait loses nothing and a failed attempt costs ~1 µs
POLL_WHEN_FULL_S = 0.01


def client_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` over `CLIENT_DEFAULTS`, with the process's log filter (`kafka_logging`): what every client
    of ours is created with, `Producer(client_config({...}))`."""
    return {**CLIENT_DEFAULTS, **config, **client_logging()}


def produce_when_room(producer: Producer, topic: str, value: bytes | None, key: bytes | None = None, *,
                      timestamp: int = 0, headers: KafkaHeaders | None = None, partition: int = -1,
                      on_delivery: DeliveryCallback | None = None,
                      on_wait: Callable[[], None] | None = None) -> None:
    """`producer.produce(...)`, never dropping the record: while the local queue is full (`BufferError`),
    serve deliveries with `poll` and try again. `on_wait` runs after each poll (it may raise to give up:
    a fatal client error). Hot loops call `produce` themselves and this only from their `BufferError`
    branch, so the common case costs no extra Python call."""
    while True:
        try:
            producer.produce(topic, value, key, partition=partition, on_delivery=on_delivery, timestamp=timestamp,
                             headers=headers)
            return
        except BufferError:
            producer.poll(POLL_WHEN_FULL_S)
            if on_wait is not None:
                on_wait()


class ConsumedMessage(Protocol):
    """A record a consumer returned (not an error event): its topic, partition and offset are known and its
    headers are librdkafka's (name, bytes) pairs. confluent-kafka's `Message` type also stands for error
    events and for messages being produced, so it allows None and dict headers; `consumed` narrows it."""

    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def headers(self) -> list[tuple[str, bytes | None]] | None: ...


def consumed(messages: Iterable[Message]) -> list[ConsumedMessage]:
    """The records among what `Consumer.consume` returned: the messages without an error."""
    return cast(list[ConsumedMessage], [message for message in messages if message.error() is None])


class ListsTopics(Protocol):
    """A client that answers metadata requests (`AdminClient`, `Producer`, `Consumer`)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


def cluster_metadata(client: ListsTopics, config: Mapping[str, Any], timeout: float) -> ClusterMetadata:
    """The cluster's metadata; `Unreachable` in one line if no broker answers within `timeout` (`config`:
    the client's, for the bootstrap servers the line names) or the cluster lists no brokers."""
    bootstrap = str(config.get("bootstrap.servers", "?"))
    try:
        metadata: ClusterMetadata = client.list_topics(timeout=timeout)
    except KafkaException as error:
        reason = error.args[0].str() if error.args and isinstance(error.args[0], KafkaError) else str(error)
        raise broker_unreachable(bootstrap, f"no answer in {timeout:.0f} s: {reason}") from None
    if not metadata.brokers:
        raise Unreachable(f"Kafka at {bootstrap} answered but lists no brokers; is it still starting?")
    return metadata


def result_within(future: concurrent.futures.Future[T], timeout: float, what: str) -> T:
    """An admin request's result; `Unreachable` ("`what` timed out") if it takes longer than `timeout`."""
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise Unreachable(f"{what} timed out after {timeout:.0f} s") from None


def create_topics(admin: AdminClient, topics: list[NewTopic], timeout: float) -> tuple[ClusterMetadata, list[str]]:
    """Create `topics`, then wait until the metadata lists each; returns that metadata and the names another
    client created first (the caller checks those like any existing topic). Another refusal is a `Conflict`.
    """
    futures = admin.create_topics(
        topics,
        # wait on the broker until the topic has propagated, so what we (or a producer) do next sees it;
        # the request itself gets a little longer than the operation it waits for
        operation_timeout=timeout, request_timeout=timeout + 5,
    )
    raced: list[str] = []
    for topic in topics:
        try:
            result_within(futures[topic.topic], timeout + 10, f"creating topic {topic.topic}")
        except KafkaException as error:
            kafka_error = error.args[0]
            if kafka_error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise Conflict(f"cannot create topic {topic.topic}: {kafka_error.str()}") from None
            raced.append(topic.topic)  # another process created it since the caller looked
    return metadata_listing(admin, [topic.topic for topic in topics], timeout), raced


def metadata_listing(admin: AdminClient, names: Iterable[str], timeout: float) -> ClusterMetadata:
    """Metadata once it lists `names` (or after `timeout`): a topic just created reaches the broker's
    metadata cache, and every client, a moment after CreateTopics says it exists."""
    names = list(names)
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        if all(name in metadata.topics for name in names) or time.monotonic() > deadline:
            return metadata
        time.sleep(0.1)
