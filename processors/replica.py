"""The replica consumer: every partition of customers, transactions and labels, for homes and merchant risk.

Reads from the beginning of each topic (the replica is rebuilt on start, see `processors.risk`), so
every worker computes the same merchant risk whatever partitions it owns. Transactions and labels are
read with the prefix readers of `processors.wire`; customers (low volume) with the full codec. Pacing:
transaction partitions pause once `lookahead_us` of event time ahead of the newest transaction the
worker's group consumer received, label partitions once `lookahead_us` ahead of the slowest transaction
partition still being read, which bounds the replica's unjoined records; neither can stall the worker,
which needs labels only up to the event time it scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from synfinance.common.assign import assign_promptly
from synfinance.common.kafka_logging import client_logging
from synfinance.common.settings import TopicNames
from synfinance.processors.risk import RiskReplica
from synfinance.processors.wire import NULL_KEY, read_label, read_transaction
from synfinance.schemas.codec import CodecError, decode

log = logging.getLogger(__name__)
_PUMP_MESSAGES, _PUMP_ROUNDS = 5_000, 4


class ReplicaReader:
    def __init__(self, kafka: Mapping[str, Any], topics: TopicNames, partitions: Mapping[str, int],
                 max_label_delay_us: int, lookahead_us: int) -> None:
        self.topics = topics
        self.lookahead_us = lookahead_us
        self.risk = RiskReplica(partitions[topics.labels], max_label_delay_us)
        self.homes: dict[str, tuple[float, float]] = {}
        self.undecodable = 0
        self._eof: set[tuple[str, int]] = set()
        self._paused: set[tuple[str, int]] = set()
        # no group: this consumer is assigned every partition and commits nothing
        self.consumer = Consumer({**kafka, "group.id": "synfin-processor-replica", "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "enable.partition.eof": True,
                                  **client_logging()})
        assign_promptly(self.consumer, [TopicPartition(topic, p, OFFSET_BEGINNING)
                                        for topic in (topics.customers, topics.transactions, topics.labels)
                                        for p in range(partitions[topic])])
        self._customer_partitions = partitions[topics.customers]

    def load_homes(self, timeout: float = 120.0) -> None:
        """Read the customers topic to its end (transactions and labels read meanwhile count too)."""
        deadline = time.monotonic() + timeout
        while sum(1 for topic, _ in self._eof if topic == self.topics.customers) < self._customer_partitions:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read {self.topics.customers} to its end in {timeout:.0f} s")
            self.pump(None, timeout=0.2)
        log.info("%d customer homes loaded", len(self.homes))

    def pump(self, frontier: int | None, timeout: float = 0.0) -> int:
        """Read what has arrived (a few batches at most); returns the number of records read."""
        total = 0
        topics, risk = self.topics, self.risk
        for _ in range(_PUMP_ROUNDS):
            messages = self.consumer.consume(_PUMP_MESSAGES, timeout=timeout)
            for message in messages:
                error = message.error()
                topic, partition = message.topic(), message.partition()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._eof.add((topic, partition))
                    elif error.fatal():
                        raise KafkaException(error)
                    continue
                self._eof.discard((topic, partition))
                value = message.value()
                try:
                    if message.key() is None and topic in (topics.labels, topics.transactions):
                        raise CodecError(NULL_KEY)  # dead-lettered by its worker: no risk counts it either
                    if topic == topics.labels:
                        risk.add_label(read_label(value), partition)
                    elif topic == topics.transactions:
                        risk.add_transaction(read_transaction(value), partition)
                    elif value is None:  # a compaction tombstone: the customer is gone
                        self.homes.pop(message.key().decode(), None)
                    else:
                        record = decode(value)
                        self.homes[record["customer_id"]] = (record["home_latitude"], record["home_longitude"])
                except (CodecError, KeyError):
                    self.undecodable += 1  # the worker that owns the partition dead-letters it
            total += len(messages)
            if len(messages) < _PUMP_MESSAGES:
                break
            timeout = 0.0
        self._pace(frontier)
        return total

    def labels_caught_up(self) -> bool:
        """Every label partition read to its end as of its last fetch (none paused): the replica holds every
        label the producer had appended by then."""
        labels = self.topics.labels
        return sum(1 for topic, _ in self._eof if topic == labels) == len(self.risk.label_frontier)

    def _pace(self, frontier: int | None) -> None:
        topics, risk, lookahead = self.topics, self.risk, self.lookahead_us
        pause: set[tuple[str, int]] = set()
        if frontier is not None:
            pause |= {(topics.transactions, p) for p, t in risk.txn_frontier.items() if t > frontier + lookahead}
        open_txn = [t for p, t in risk.txn_frontier.items() if (topics.transactions, p) not in self._eof]
        if open_txn:
            slowest = min(open_txn)
            pause |= {(topics.labels, p) for p, t in enumerate(risk.label_frontier)
                      if t is not None and t > slowest + lookahead}
        if pause != self._paused:
            if pause - self._paused:
                self.consumer.pause([TopicPartition(t, p) for t, p in pause - self._paused])
            if self._paused - pause:
                self.consumer.resume([TopicPartition(t, p) for t, p in self._paused - pause])
            self._paused = pause

    def close(self) -> None:
        self.consumer.close()
