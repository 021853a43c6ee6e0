"""A produce run's choices (`RunConfig`) and the RunInfo record that states them (`run_info`).

The run first sends one RunInfo record (`schemas/run_info.avsc`: seed, generator version, config, header
set, each topic's schema fingerprint and registry id) to the compacted runs topic, keyed by the stream id
(hashed from seed, config and generator version, not the shard), with the population's timestamp; its
value depends on nothing else that varies between replays, so a replay, a resumed run or another shard
sends the same record under the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from synfinance.common.settings import TopicNames
from synfinance.producers.kafka import HEADER_SETS, HeaderSet
from synfinance.producers.rates import Profile
from synfinance.producers.seeding import GENERATOR_VERSION
from synfinance.producers.stream import StreamConfig
from synfinance.schemas.codec import Codec, fingerprint, schema_json


@dataclass(frozen=True)
class RunConfig:
    """What one produce run is asked to do (`producers.producer.ProduceRun`)."""

    stream: StreamConfig
    profile: Profile
    topics: TopicNames = field(default_factory=TopicNames)
    events: int | None = None  # stop at this stream position (exclusive); None: no limit
    duration_s: float | None = None
    time_mode: Literal["simulated", "live"] = "simulated"
    from_seq: int = 0
    publish_population: bool = True
    # where the stream is generated and encoded: "thread" (in this process, sharing the GIL with the
    # sending loop) or "process" (a child process: a core of its own; see producers.prefetch)
    generator: Literal["thread", "process"] = "thread"
    # the framing of every value: single-object by default, Confluent with a registry's ids
    codec: Codec = field(default_factory=Codec)
    headers: HeaderSet = "full"  # which headers every record carries (see producers.record_writer)


def run_info(config: RunConfig) -> dict[str, Any]:
    """The RunInfo record (`schemas/run_info.avsc`) of a run: the same for every replay, shard and resume."""
    stream, topics = config.stream, config.topics
    written = ((topics.customers, "customer"), (topics.merchants, "merchant"),
               (topics.transactions, "transaction"), (topics.labels, "label"))
    return {"stream_id": stream.stream_id, "seed": stream.seed, "generator_version": GENERATOR_VERSION,
            "customers": stream.customers, "merchants": stream.merchants, "start": stream.start,
            "fraud_rate": stream.fraud_rate, "anomaly_rate": stream.anomaly_rate, "label_delay": stream.label_delay,
            "time_mode": config.time_mode, "header_set": config.headers, "headers": list(HEADER_SETS[config.headers]),
            "topics": [{"topic": topic, "schema": f"{schema_json(name)['namespace']}.{schema_json(name)['name']}",
                        "fingerprint": fingerprint(name).hex(), "schema_id": config.codec.confluent_id(name)}
                       for topic, name in written]}
