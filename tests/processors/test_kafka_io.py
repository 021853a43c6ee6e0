"""The processor's topic checks against the session broker: internal compacted topics are created once and
must be partitioned like their source; a missing source topic or an absent broker is one line."""

from __future__ import annotations

import re
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from synfinance.common.errors import Conflict, Unreachable
from synfinance.processors.kafka_io import ensure_compacted, partition_counts

pytestmark = pytest.mark.integration


def test_ensure_compacted_creates_once_and_refuses_another_partition_count(kafka_bootstrap: str) -> None:
    kafka = {"bootstrap.servers": kafka_bootstrap}
    name = f"test.kafka-io.{uuid.uuid4().hex[:8]}.state"
    ensure_compacted(kafka, name, 3)
    assert partition_counts(kafka, [name]) == {name: 3}  # in the metadata as soon as it returns
    ensure_compacted(kafka, name, 3)  # exists and matches: nothing to do
    with pytest.raises(Conflict, match=re.escape(f"topic {name} has 3 partitions, the source topics 4")):
        ensure_compacted(kafka, name, 4)
    admin = AdminClient(kafka)  # kept: a client dropped before its future resolves cancels it
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
    config = next(iter(futures.values())).result(30)
    assert config["cleanup.policy"].value == "compact"


def test_partition_counts_names_a_missing_topic_and_an_absent_broker(kafka_bootstrap: str) -> None:
    missing = f"test.kafka-io.{uuid.uuid4().hex[:8]}.missing"
    with pytest.raises(Conflict, match=re.escape(f"topic {missing} does not exist")):
        partition_counts({"bootstrap.servers": kafka_bootstrap}, [missing])
    with pytest.raises(Unreachable, match=re.escape("Kafka broker at 127.0.0.1:1 is unreachable")):
        partition_counts({"bootstrap.servers": "127.0.0.1:1"}, [missing], timeout=1.0)
