"""Reads the transactions, labels and decisions topic(s) into an `Observed` (the evaluator's only Kafka part).

All partitions of the three topics are *assigned* (not subscribed) from their beginning: a score needs all
of the ground truth, and two evaluators in one group would otherwise split it. The group id is used only to
commit progress, so `kafka_consumergroup_group_lag` shows how far the evaluation has read. `drained()` is
True once every partition has reported its end (librdkafka's partition EOF) after its last record.

Transactions and labels decode column-wise with `BatchDecoder` (rows it will not vouch for go through the
codec; what neither decodes is counted in `undecodable`); decisions through `decisions.parse_decision`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from synfinance.common.kafka_logging import client_logging
from synfinance.processors.evaluation.decisions import parse_decision
from synfinance.processors.evaluation.joined import Observed
from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import CodecError, decode_with_name

__all__ = ["EvaluationReader", "TopicMissing"]

_TXN_FIELDS = ("transaction_id", "event_time", "amount_paise")
_LABEL_FIELDS = ("transaction_id", "revision", "is_fraud", "fraud_type", "scenario_id", "is_anomaly", "anomaly_type")


class TopicMissing(LookupError):
    """A topic the evaluation needs does not exist on the cluster."""


class EvaluationReader:
    """One consumer over the three topics; `poll(observed)` appends what arrived."""

    def __init__(self, kafka_config: dict[str, Any], transactions: str, labels: str, decisions: list[str],
                 group: str, timeout: float = 10.0) -> None:
        self.topics = {"transactions": transactions, "labels": labels,
                       **{f"decisions {k}" if k else "decisions": topic for k, topic in enumerate(decisions)}}
        self._source = {topic: k for k, topic in enumerate(decisions)}
        self.undecodable = {"transactions": 0, "labels": 0}
        self.records = {"transactions": 0, "labels": 0, "decisions": 0}
        self._consumer = Consumer({**kafka_config, **client_logging(), "group.id": group,
                                   "enable.auto.commit": False, "enable.partition.eof": True,
                                   "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        self._kind = {topic: kind.split()[0] for kind, topic in self.topics.items()}
        self._decoders = {"transactions": BatchDecoder("transaction"), "labels": BatchDecoder("label")}
        try:
            metadata = self._consumer.list_topics(timeout=timeout).topics
        except KafkaException:
            self._consumer.close()
            raise
        partitions: list[TopicPartition] = []
        for kind, topic in self.topics.items():
            found = metadata.get(topic)
            if found is None or found.error is not None:
                self._consumer.close()
                raise TopicMissing(f"topic {topic!r} ({kind.split()[0]}) does not exist on the cluster")
            partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(found.partitions)]
        self._assigned = {(tp.topic, tp.partition) for tp in partitions}
        self._at_end: set[tuple[str, int]] = set()
        self._consumer.assign(partitions)

    def poll(self, observed: Observed, max_records: int = 20_000, timeout: float = 0.5) -> int:
        """Consume up to `max_records` and append them to `observed`; returns how many records arrived."""
        batch: dict[str, list[Message]] = {"transactions": [], "labels": [], "decisions": []}
        for message in self._consumer.consume(max_records, timeout):
            where = (message.topic(), message.partition())
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(where)
                    continue
                raise KafkaException(error)
            self._at_end.discard(where)
            batch[self._kind[message.topic()]].append(message)
        self._columns(observed, "transactions", batch["transactions"], _TXN_FIELDS,
                      lambda r: observed.add_transaction(r["transaction_id"], r["event_time"], r["amount_paise"]))
        self._columns(observed, "labels", batch["labels"], _LABEL_FIELDS,
                      lambda r: observed.add_label(r["transaction_id"], r["revision"], r["is_fraud"], r["fraud_type"],
                                                   r["scenario_id"], r["is_anomaly"], r["anomaly_type"]))
        for message in batch["decisions"]:
            decision = parse_decision(message.value())
            if decision is None:
                observed.undecodable_decisions += 1
                continue
            observed.add_decision(decision.transaction_id, decision.score, decision.verdict, decision.decided_at,
                                  message.timestamp()[1] * 1000, self._source[message.topic()])
        for kind, messages in batch.items():
            self.records[kind] += len(messages)
        return sum(map(len, batch.values()))

    def _columns(self, observed: Observed, kind: str, messages: list[Message], fields: tuple[str, ...],
                 add: Callable[[dict[str, Any]], None]) -> None:
        if not messages:
            return
        values = [m.value() or b"" for m in messages]
        decoded = self._decoders[kind].decode(values)
        for record in decoded.records(fields=list(fields)):
            add(record)
        schema = self._decoders[kind].schema_name
        for row in (~decoded.ok).nonzero()[0].tolist():  # the codec is the authority on what the batch refused
            try:
                name, record = decode_with_name(values[row])
            except (CodecError, KeyError, ValueError, EOFError):
                name, record = "", {}
            if name == schema:
                add(record)
            else:
                self.undecodable[kind] += 1

    def drained(self) -> bool:
        """Every partition of the three topics has been read to its end (as of its last EOF)."""
        return self._at_end >= self._assigned

    def commit(self) -> None:
        """Record the positions under the group (for lag exporters); nothing to commit is not an error."""
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                raise

    def close(self) -> None:
        self._consumer.close()
