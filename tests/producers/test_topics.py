"""Topic administration against the real session broker: created with the SPEC §2 configs, verified
when they exist, a mismatch or an absent broker is one line."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from typer.testing import CliRunner

from synfinance.commands import topics as topics_cli
from synfinance.common.errors import SynfinError
from synfinance.common.settings import Settings, load_settings
from synfinance.producers.topics import describe_topics, ensure_topics, mismatch, spec_for_settings

pytestmark = pytest.mark.integration

KINDS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq", "runs")


def unique_names() -> dict[str, str]:
    prefix = f"test.topics.{uuid.uuid4().hex[:8]}"
    return {kind: f"{prefix}.{kind}" for kind in KINDS}


def settings_for(bootstrap: str, **overrides: object) -> Settings:
    return load_settings(bootstrap_servers=bootstrap, topics=unique_names(), **overrides)


def raw_admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_raw(admin: AdminClient, topic: NewTopic) -> None:
    """Create a topic behind the tool's back and wait until the broker's metadata lists it, as a topic
    made earlier would be."""
    admin.create_topics([topic])[topic.topic].result(30)
    deadline = time.monotonic() + 30
    while topic.topic not in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_creates_the_eight_topics_with_partitions_and_configs(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap, partitions=3)
    specs = spec_for_settings(settings)
    lines = ensure_topics(settings.kafka_config(), specs)
    assert [line.split(":")[0] for line in lines] == [getattr(settings.topics, kind) for kind in KINDS]
    assert all(": created (partitions=3 replication=1 cleanup.policy=" in line for line in lines[:-1]), lines
    assert ": created (partitions=1 replication=1 cleanup.policy=compact)" in lines[-1]  # runs: one partition

    # read back with a plain AdminClient, not through the code under test
    admin = raw_admin(kafka_bootstrap)
    metadata = admin.list_topics(timeout=10)
    resources = {kind: ConfigResource(ResourceType.TOPIC, getattr(settings.topics, kind)) for kind in KINDS}
    futures = admin.describe_configs(list(resources.values()))
    for kind in KINDS:
        name = getattr(settings.topics, kind)
        assert len(metadata.topics[name].partitions) == (1 if kind == "runs" else 3)
        config = {key: entry.value for key, entry in futures[resources[kind]].result(10).items()}
        assert config["message.timestamp.type"] == "CreateTime"
        assert config["compression.type"] == "producer"
        if kind in ("customers", "merchants", "runs"):
            assert config["cleanup.policy"] == "compact"
        else:
            assert config["cleanup.policy"] == "delete"
            assert config["retention.ms"] == "-1"  # event-time timestamps: time-based retention would delete them

    again = ensure_topics(settings.kafka_config(), specs)
    assert [line.split(":")[0] for line in again] == [line.split(":")[0] for line in lines]
    assert all(": exists, matches (partitions=3 " in line for line in again[:-1]), again
    assert ": exists, matches (partitions=1 " in again[-1], again

    actual = describe_topics(settings.kafka_config(), [spec.name for spec in specs])
    assert all(mismatch(spec, actual[spec.name]) is None for spec in specs)  # type: ignore[arg-type]


def test_creates_only_what_is_missing(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    specs = spec_for_settings(settings)
    ensure_topics(settings.kafka_config(), specs[:2])
    lines = ensure_topics(settings.kafka_config(), specs)
    assert ["exists, matches" in line for line in lines] == [True, True] + [False] * 6
    assert all(": created (" in line for line in lines[2:])


def test_partition_mismatch_is_one_line_naming_topic_and_values(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)  # 6 partitions
    name = settings.topics.transactions
    admin = raw_admin(kafka_bootstrap)  # held: a discarded client fails its futures with _DESTROY
    create_raw(admin, NewTopic(name, num_partitions=2, replication_factor=1))

    with pytest.raises(SynfinError) as caught:
        ensure_topics(settings.kafka_config(), spec_for_settings(settings))
    message = str(caught.value)
    assert "\n" not in message
    assert f"topic {name} has partitions 2, expected 6" in message
    # checked before creating: a mismatch leaves no half-made set behind
    assert settings.topics.customers not in admin.list_topics(timeout=10).topics


def test_config_mismatch_names_the_setting(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    name = settings.topics.customers
    topic = NewTopic(name, num_partitions=settings.partitions, replication_factor=1,
                     config={"cleanup.policy": "delete"})
    admin = raw_admin(kafka_bootstrap)
    create_raw(admin, topic)

    with pytest.raises(SynfinError) as caught:
        ensure_topics(settings.kafka_config(), spec_for_settings(settings))
    message = str(caught.value)
    assert "\n" not in message
    assert f"topic {name} has cleanup.policy=delete, expected cleanup.policy=compact" in message


def test_unreachable_broker_is_a_usage_error_not_a_hang() -> None:
    settings = load_settings(bootstrap_servers="127.0.0.1:1", topics=unique_names())
    started = time.monotonic()
    with pytest.raises(SynfinError) as caught:
        ensure_topics(settings.kafka_config(), spec_for_settings(settings))
    assert time.monotonic() - started < 30
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Kafka broker at 127.0.0.1:1 is unreachable")


def test_cli_create_then_list(kafka_bootstrap: str) -> None:
    names = unique_names()
    env = {"SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "250"}
    env |= {f"SYNFIN_TOPICS__{kind.upper()}": name for kind, name in names.items()}
    runner = CliRunner()

    created = runner.invoke(topics_cli.app, ["create", "--partitions", "2"], env=env)
    assert created.exit_code == 0, created.output
    assert created.output.count(": created (partitions=2 ") == 7
    assert created.output.count(": created (partitions=1 ") == 1  # the runs topic

    listed = runner.invoke(topics_cli.app, ["list"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = [row for row in map(str.split, listed.output.splitlines()) if row and row[0] in names.values()]
    assert len(rows) == 8
    # the table compares with the default 6 partitions, so every row says what differs, but the runs topic's
    runs = [row for row in rows if row[0] == names["runs"]]
    assert len(runs) == 1 and runs[0][1] == "1" and runs[0][-1] == "ok", listed.output
    assert all(row[1] == "2" and "partitions 2, expected 6" in " ".join(row) for row in rows if row not in runs), \
        listed.output

    differs = runner.invoke(topics_cli.app, ["create"], env=env)
    assert differs.exit_code != 0
    assert isinstance(differs.exception, SynfinError)
    assert "has partitions 2, expected 6" in str(differs.exception)
