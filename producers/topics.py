"""The topics SPEC §2 names, with the configs we set explicitly, created where missing and verified
where they already exist.

Verification is strict on purpose: the partition count decides which partition a key lands on (the
determinism contract is per partition), and a compacted topic that quietly deletes, or a topic
stamped with LogAppendTime instead of the event time, breaks consumers in ways that show up much later.
So an existing topic that differs is a one-line `Conflict` naming the topic, the setting, and the
expected and actual values, never something we silently accept or alter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, NewTopic, ResourceType

from synfinance.common.errors import Conflict, InvalidInput, Unreachable
from synfinance.common.kafka_clients import client_config, cluster_metadata, create_topics, result_within
from synfinance.common.settings import Settings

DAY_MS = 86_400_000
# Every topic: the record timestamp is the one the producer sets (the event time, SPEC §2), and the
# broker keeps the producer's compression instead of recompressing each batch.
COMMON_CONFIG = {"message.timestamp.type": "CreateTime", "compression.type": "producer"}
COMPACTED = {"cleanup.policy": "compact"}
# Records carry their event time as timestamp, and simulated event times can be any date (the default
# start is 2025-10-01): a time-based retention would delete a simulated stream minutes after producing it.
# So event topics keep records until deleted (size limits are the operator's choice).
EVENTS = {"cleanup.policy": "delete", "retention.ms": "-1"}
# dead letters are read by a person, later: keep them longer than the events they came from
DEAD_LETTERS = {"cleanup.policy": "delete", "retention.ms": "-1"}

CONNECT_TIMEOUT_S = 15.0
RUNS_PARTITIONS = 1


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we want it (or, from `describe_topics`, as it is: then `config` holds every config
    the broker reports, defaults included)."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"partitions={self.partitions}", f"replication={self.replication_factor}"]
        shown = ("cleanup.policy", "retention.ms")
        parts += [f"{key}={self.config[key]}" for key in shown if key in self.config]
        return " ".join(parts)


def spec_for_settings(settings: Settings) -> list[TopicSpec]:
    """The seven topics of SPEC §2, in its order, then the run-info topic, named and sized by the settings."""
    names = settings.topics

    def spec(name: str, config: dict[str, str]) -> TopicSpec:
        return TopicSpec(name, settings.partitions, settings.replication_factor, {**COMMON_CONFIG, **config})

    return [
        spec(names.customers, COMPACTED),
        spec(names.merchants, COMPACTED),
        spec(names.transactions, EVENTS),
        spec(names.labels, EVENTS),
        spec(names.scored, EVENTS),
        spec(names.alerts, EVENTS),
        spec(names.dlq, DEAD_LETTERS),
        # one record per stream id (a replay replaces its own): a handful of records, in one partition whatever
        # SYNFIN_PARTITIONS says, so runs with other partition counts can share the default runs topic
        TopicSpec(names.runs, RUNS_PARTITIONS, settings.replication_factor, {**COMMON_CONFIG, **COMPACTED}),
    ]


def mismatch(want: TopicSpec, actual: TopicSpec) -> str | None:
    """The first way `actual` differs from `want` (partitions, replication, each config `want` sets),
    as one line; None if it matches."""
    checks: list[tuple[str, object, object, str]] = [
        ("partitions", want.partitions, actual.partitions, "SYNFIN_PARTITIONS"),
        ("replication factor", want.replication_factor, actual.replication_factor,
         "SYNFIN_REPLICATION_FACTOR"),
    ]
    for setting, expected, found, variable in checks:
        if expected != found:
            return (f"topic {want.name} has {setting} {found}, expected {expected}: delete the topic "
                    f"or set {variable}={found}")
    for key, expected in want.config.items():
        found = actual.config.get(key)
        if found != expected:
            return (f"topic {want.name} has {key}={found}, expected {key}={expected}: delete the topic "
                    f"or change it with kafka-configs.sh --alter")
    return None


def _describe(admin: AdminClient, metadata: ClusterMetadata, names: list[str],
              timeout: float) -> dict[str, TopicSpec | None]:
    present = [name for name in names if name in metadata.topics]
    resources = {name: ConfigResource(ResourceType.TOPIC, name) for name in present}
    futures = admin.describe_configs(list(resources.values()), request_timeout=timeout) if present else {}
    found: dict[str, TopicSpec | None] = dict.fromkeys(names)
    for name in present:
        try:
            entries = result_within(futures[resources[name]], timeout + 5, f"describing topic {name}")
        except KafkaException as error:
            raise Unreachable(f"cannot describe topic {name}: {error.args[0].str()}") from None
        partitions = metadata.topics[name].partitions
        replication = max((len(p.replicas) for p in partitions.values()), default=0)
        config = {key: entry.value for key, entry in entries.items() if entry.value is not None}
        found[name] = TopicSpec(name, len(partitions), replication, config)
    return found


def describe_topics(admin_config: dict[str, Any], names: list[str], timeout: float = 30.0,
                    connect_timeout: float = CONNECT_TIMEOUT_S) -> dict[str, TopicSpec | None]:
    """Each named topic as the broker has it (None where it does not exist)."""
    admin = AdminClient(client_config(admin_config))
    metadata = cluster_metadata(admin, admin_config, min(connect_timeout, timeout))
    return _describe(admin, metadata, names, timeout)


def ensure_topics(admin_config: dict[str, Any], specs: list[TopicSpec], timeout: float = 30.0,
                  connect_timeout: float = CONNECT_TIMEOUT_S) -> list[str]:
    """Create the missing topics with their configs and verify the existing ones; returns one outcome
    line per spec, in order. A difference, an error or an absent broker is a one-line `SynfinError`."""
    names = [spec.name for spec in specs]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise InvalidInput(f"topic name {duplicates[0]} is configured for more than one topic")
    admin = AdminClient(client_config(admin_config))
    metadata = cluster_metadata(admin, admin_config, min(connect_timeout, timeout))
    lines: dict[str, str] = {}
    # check what exists before creating anything, so a mismatch leaves no half-made set behind
    existing = [spec for spec in specs if spec.name in metadata.topics]
    _verify(admin, metadata, existing, timeout, lines)

    missing = [spec for spec in specs if spec.name not in metadata.topics]
    if missing:
        metadata, raced = create_topics(admin, [NewTopic(spec.name, num_partitions=spec.partitions,
                                                         replication_factor=spec.replication_factor,
                                                         config=dict(spec.config)) for spec in missing], timeout)
        lines.update({spec.name: f"{spec.name}: created ({spec.summary()})"
                      for spec in missing if spec.name not in raced})
        # another process created these since we looked: check them like the rest
        _verify(admin, metadata, [spec for spec in missing if spec.name in raced], timeout, lines)
    return [lines[spec.name] for spec in specs]


def _verify(admin: AdminClient, metadata: ClusterMetadata, specs: list[TopicSpec], timeout: float,
            lines: dict[str, str]) -> None:
    actual = _describe(admin, metadata, [spec.name for spec in specs], timeout)
    for spec in specs:
        found = actual[spec.name]
        if found is None:
            raise Unreachable(f"topic {spec.name} exists but is not in the broker's metadata after "
                             f"{timeout:.0f} s; run the command again")
        problem = mismatch(spec, found)
        if problem:
            raise Conflict(problem)
        lines[spec.name] = f"{spec.name}: exists, matches ({spec.summary()})"
