"""The shared Kafka plumbing: client defaults, the one full-queue policy, the one 'broker unreachable' line,
and topic create-then-wait (against the session broker where it needs one)."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.errors import Conflict, Unreachable
from synfinance.common.kafka_clients import (
    CLIENT_DEFAULTS,
    KEYED_PRODUCER,
    client_config,
    cluster_metadata,
    create_topics,
    produce_when_room,
)
from synfinance.common.kafka_logging import CLIENT_LOG


class FullQueue:
    """A producer whose local queue is full for the first `full_for` attempts."""

    def __init__(self, full_for: int) -> None:
        self.full_for = full_for
        self.attempts = 0
        self.polls = 0
        self.produced: list[tuple[Any, ...]] = []

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any) -> None:
        self.attempts += 1
        if self.attempts <= self.full_for:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, key, kwargs["timestamp"], kwargs["headers"], kwargs["partition"]))

    def poll(self, timeout: float) -> int:
        assert 0 < timeout <= 0.1
        self.polls += 1
        return 0


def test_the_callers_config_wins_over_the_defaults_and_every_client_gets_the_log_filter() -> None:
    config = client_config({"bootstrap.servers": "b:9092", "socket.connection.setup.timeout.ms": 1000})
    assert config == {"bootstrap.servers": "b:9092", "socket.connection.setup.timeout.ms": 1000, "logger": CLIENT_LOG}
    assert client_config({})["socket.connection.setup.timeout.ms"] == CLIENT_DEFAULTS[
        "socket.connection.setup.timeout.ms"]
    assert KEYED_PRODUCER["partitioner"] == "murmur2_random"  # the Java client's and Faust's


def test_a_full_queue_is_polled_until_the_record_fits_never_dropped() -> None:
    producer = FullQueue(full_for=3)
    waits: list[int] = []
    produce_when_room(producer, "t", b"v", b"k", timestamp=7, headers=[("h", b"1")], partition=2,  # type: ignore[arg-type]
                      on_wait=lambda: waits.append(producer.polls))
    assert producer.produced == [("t", b"v", b"k", 7, [("h", b"1")], 2)]
    assert (producer.attempts, producer.polls, waits) == (4, 3, [1, 2, 3])


def test_on_wait_can_give_up() -> None:
    producer = FullQueue(full_for=100)

    def fatal() -> None:
        raise RuntimeError("fatal idempotence error")

    with pytest.raises(RuntimeError, match="fatal"):
        produce_when_room(producer, "t", b"v", on_wait=fatal)  # type: ignore[arg-type]
    assert (producer.attempts, producer.produced) == (1, [])


def test_an_absent_broker_is_the_one_unreachable_line() -> None:
    config = {"bootstrap.servers": "127.0.0.1:1"}
    with pytest.raises(Unreachable) as caught:
        cluster_metadata(AdminClient(client_config(config)), config, timeout=1.0)
    assert str(caught.value).startswith("Kafka broker at 127.0.0.1:1 is unreachable (no answer in 1 s: ")
    assert "\n" not in str(caught.value)


def test_a_cluster_without_brokers_is_unreachable() -> None:
    class Starting:
        def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
            return SimpleNamespace(brokers={}, topics={})

    with pytest.raises(Unreachable, match="lists no brokers"):
        cluster_metadata(Starting(), {"bootstrap.servers": "b:9092"}, timeout=1.0)


@pytest.mark.integration
def test_created_topics_are_in_the_metadata_and_one_made_meanwhile_is_reported(kafka_bootstrap: str) -> None:
    admin = AdminClient(client_config({"bootstrap.servers": kafka_bootstrap}))
    first, second = (f"test.kafka-clients.{uuid.uuid4().hex[:8]}.{n}" for n in (1, 2))
    metadata, raced = create_topics(admin, [NewTopic(first, 2, 1)], timeout=30)
    assert raced == [] and len(metadata.topics[first].partitions) == 2
    # `first` again, as if another process had made it since we looked: reported, not an error
    metadata, raced = create_topics(admin, [NewTopic(first, 2, 1), NewTopic(second, 3, 1)], timeout=30)
    assert raced == [first] and len(metadata.topics[second].partitions) == 3


@pytest.mark.integration
def test_a_refused_topic_is_a_conflict(kafka_bootstrap: str) -> None:
    admin = AdminClient(client_config({"bootstrap.servers": kafka_bootstrap}))
    name = f"test.kafka-clients.{uuid.uuid4().hex[:8]}"
    with pytest.raises(Conflict, match=re.escape(f"cannot create topic {name}: ")):
        create_topics(admin, [NewTopic(name, 1, 1, config={"cleanup.policy": "no-such-policy"})], timeout=30)
