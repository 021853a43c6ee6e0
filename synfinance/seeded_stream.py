"""Seeded streams for a user's tests: `synfinance produce` into fresh topics, plus the ground truth.

`StreamFactory` is what the pytest fixture `synfin_stream` returns. A call such as
``synfin_stream(seed=7, events=5_000)`` runs ``synfinance produce --profile max`` into topics named for this
call (``synfin-test.<random>.transactions`` ...), waits until the run has delivered every record, and checks
the topics hold exactly what was expected. The ground truth comes from the same seed and options without
reading Kafka: the generator is deterministic, so what the topics hold *is* what it computes here.
Identical calls in one session return the same `SeededStream` (its topics are filled once).

``synfin_stream(..., registry=True)`` fills the topics in the Confluent wire format instead (``00`` + schema id,
subjects ``<topic>-value``) through the session's schema registry, started on first such call; a standard
consumer then needs only `SeededStream.schema_registry_config()` for confluent-kafka's `AvroDeserializer`.
`registry=True` and `False` are different streams (different topics), each filled once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from synfinance.common.kafka_logging import client_logging
from synfinance.common.settings import TopicNames
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import DEFAULT_ANOMALY_RATE, DEFAULT_FRAUD_RATE, StreamConfig, TransactionStream
from synfinance.schemas.batch_decode import BatchDecoder

__all__ = ["SeededStream", "StreamFactory", "StreamOptions", "final_labels"]

_PRODUCE_TIMEOUT_S = 600.0
_TOPIC_KINDS = ("customers", "merchants", "transactions", "labels", "scored", "alerts", "dlq")
_REGISTRY_VARIABLE = "SYNFIN_SCHEMA_REGISTRY_URL"


@dataclass(frozen=True)
class StreamOptions:
    """What decides a seeded stream's records (the `synfinance produce` options of the same names)."""

    seed: int = 42
    events: int = 5_000
    customers: int = 10_000
    merchants: int = 2_000
    fraud_rate: float = DEFAULT_FRAUD_RATE
    anomaly_rate: float = DEFAULT_ANOMALY_RATE
    label_delay: str = "default"
    start: str | None = None  # None: produce's default simulated start

    def config(self) -> StreamConfig:
        extra = {} if self.start is None else {"start": self.start}
        return StreamConfig(seed=self.seed, customers=self.customers, merchants=self.merchants,
                            fraud_rate=self.fraud_rate, anomaly_rate=self.anomaly_rate,
                            label_delay=self.label_delay, **extra)

    def produce_args(self) -> list[str]:
        args = ["--seed", str(self.seed), "--events", str(self.events), "--customers", str(self.customers),
                "--merchants", str(self.merchants), "--fraud-rate", repr(self.fraud_rate),
                "--anomaly-rate", repr(self.anomaly_rate), "--label-delay", self.label_delay]
        return args if self.start is None else [*args, "--start", self.start]


@dataclass(frozen=True)
class SeededStream:
    """Topics filled with one seeded stream, and what they hold.

    `labels` is the ground truth per transaction id: its label of the highest revision (a chargeback
    revises a first label). `label_records` is every label record the labels topic holds (first labels in
    transaction order, then the revisions). `expected` counts the records per topic kind.
    `schema_registry_url` is the registry whose ids frame the values (None: single-object framing).
    """

    options: StreamOptions
    bootstrap: str
    topics: TopicNames
    labels: dict[str, dict[str, Any]]
    label_records: list[dict[str, Any]] = field(repr=False)
    expected: dict[str, int]
    schema_registry_url: str | None = None

    def consumer_config(self, group_id: str | None = None, **overrides: str) -> dict[str, Any]:
        """A confluent-kafka `Consumer` config reading these topics from the beginning."""
        return {"bootstrap.servers": self.bootstrap, "group.id": group_id or f"synfin-test-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest", "enable.auto.commit": False, **overrides}

    def schema_registry_config(self) -> dict[str, str]:
        """The confluent-kafka `SchemaRegistryClient` config (``{"url": ...}``) of a `registry=True` stream."""
        if self.schema_registry_url is None:
            raise ValueError("this stream is single-object framed: ask synfin_stream(..., registry=True)")
        return {"url": self.schema_registry_url}

    def env(self) -> dict[str, str]:
        """`SYNFIN_*` variables pointing a `synfinance` command (process, sink, ...) at these topics (and, for a
        `registry=True` stream, at its registry, so what the command writes is registry-framed too)."""
        registry = {} if self.schema_registry_url is None else {_REGISTRY_VARIABLE: self.schema_registry_url}
        return {"SYNFIN_BOOTSTRAP_SERVERS": self.bootstrap, **registry,
                **{f"SYNFIN_TOPICS__{kind.upper()}": getattr(self.topics, kind) for kind in _TOPIC_KINDS}}


class StreamFactory:
    """`synfin_stream(seed=..., events=..., ...)`: a `SeededStream` on the session's broker.

    `registry_url` gives the schema registry's URL for `registry=True` calls; it is called on the first such
    call only (the pytest plugin starts the registry then)."""

    def __init__(self, bootstrap: str, registry_url: Callable[[], str] | None = None) -> None:
        self.bootstrap = bootstrap
        self._registry_url = registry_url
        self._registry_known: str | None = None
        self._made: dict[tuple[StreamOptions, bool], SeededStream] = {}

    def __call__(self, seed: int = 42, events: int = 5_000, *, customers: int = 10_000, merchants: int = 2_000,
                 fraud_rate: float = DEFAULT_FRAUD_RATE, anomaly_rate: float = DEFAULT_ANOMALY_RATE,
                 label_delay: str = "default", start: str | None = None, registry: bool = False) -> SeededStream:
        if events < 1:
            raise ValueError(f"events must be >= 1 (got {events})")
        options = StreamOptions(seed, events, customers, merchants, fraud_rate, anomaly_rate, label_delay, start)
        key = (options, bool(registry))
        if key not in self._made:
            self._made[key] = self._make(options, self._registry if registry else None)
        return self._made[key]

    def _registry(self) -> str:
        if self._registry_url is None:
            raise ValueError("registry=True needs a schema registry: this StreamFactory was made without one")
        if self._registry_known is None:
            self._registry_known = self._registry_url()
        return self._registry_known

    def _make(self, options: StreamOptions, registry: Callable[[], str] | None) -> SeededStream:
        config = options.config()  # a bad option fails here, before anything is produced or started
        registry_url = registry() if registry else None
        prefix = f"synfin-test.{uuid.uuid4().hex[:12]}"
        topics = TopicNames(**{kind: f"{prefix}.{kind}" for kind in _TOPIC_KINDS})
        label_records = _ground_truth_labels(config, options.events)
        expected = {"customers": options.customers, "merchants": options.merchants,
                    "transactions": options.events, "labels": len(label_records)}
        stream = SeededStream(options, self.bootstrap, topics, final_labels(label_records), label_records, expected,
                              registry_url)
        _produce(stream)
        held = {kind: _records_in(self.bootstrap, getattr(topics, kind)) for kind in expected}
        if held != expected:
            raise RuntimeError(f"synfin_stream: the topics hold {held}, expected {expected}")
        return stream


def _ground_truth_labels(config: StreamConfig, events: int) -> list[dict[str, Any]]:
    """Every label record of the first `events` transactions, as `produce` publishes them by its end."""
    stream = TransactionStream(config)
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(events))
    _, revisions = encoder.encode_revisions(batch)
    decoded = BatchDecoder("label").decode([*encoder.encode_labels(batch), *revisions])
    return decoded.records()


def final_labels(label_records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """transaction_id -> its label of the highest revision: what the bank finally knows."""
    final: dict[str, dict[str, Any]] = {}
    for label in label_records:
        known = final.get(label["transaction_id"])
        if known is None or label["revision"] > known["revision"]:
            final[label["transaction_id"]] = label
    return final


def _produce(stream: SeededStream) -> None:
    command = [sys.executable, "-m", "synfinance.cli", "produce", "--quiet", "--profile", "max",
               *stream.options.produce_args()]
    # the framing is the call's, never the session's environment's
    inherited = {name: value for name, value in os.environ.items() if name != _REGISTRY_VARIABLE}
    run = subprocess.run(command, env={**inherited, **stream.env()}, capture_output=True, text=True,
                         timeout=_PRODUCE_TIMEOUT_S, check=False)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"synfin_stream: synfinance produce exited {run.returncode}: {last}")


def _records_in(bootstrap: str, topic: str) -> int:
    """The number of records a topic holds (the sum of its partitions' end offsets)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"synfin-test-{uuid.uuid4().hex}",
                         **client_logging()})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in metadata.partitions)
    finally:
        consumer.close()
