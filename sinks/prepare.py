"""From consumed Kafka messages to table loads, dead letters and the offsets to commit.

Each topic carries one record type (SPEC section 2). A batch's values of a topic are decoded
column-wise when its schema allows (``schemas.batch_decode``), and the rows the batch decoder
declines are decided by ``schemas.codec`` one by one: a ``CodecError`` or a record of another
schema than the topic's goes to the dead-letter topic, as does a record without a key (every topic is
keyed, so one was sent wrong; the processor refuses it too) and a record PostgreSQL could not store
(``sinks.tables.record_problem``); a record the codec does accept is written like any other. Each row's
``trace_id`` is read from its record's ``traceparent`` header, for the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from synfinance.common.kafka_clients import ConsumedMessage
from synfinance.common.trace import header_value, trace_ids
from synfinance.schemas.batch_decode import BatchDecoder
from synfinance.schemas.codec import CodecError, decode_with_name
from synfinance.sinks.copy_writer import TableLoad
from synfinance.sinks.dlq import DeadLetter
from synfinance.sinks.pgcopy import CopyRows
from synfinance.sinks.tables import TABLES, TableSpec, invalid_rows, record_problem, rows_from_batch, rows_from_records

__all__ = ["NULL_KEY", "MessageBuffer", "PreparedBatch", "Preparer"]

NULL_KEY = "a null key: every SynFinance topic is keyed (by customer, merchant or stream id)"


class MessageBuffer:
    """Messages consumed since the last batch, by topic, and the next offset of each partition."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[ConsumedMessage]] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self.count = 0

    def add(self, messages: Iterable[ConsumedMessage]) -> None:
        by_topic, offsets = self.by_topic, self.offsets
        for message in messages:
            topic = message.topic()
            by_topic.setdefault(topic, []).append(message)
            offsets[(topic, message.partition())] = message.offset() + 1
            self.count += 1

    def drop_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Forget messages of partitions this consumer no longer owns."""
        gone = set(partitions)
        if not gone:
            return
        for topic, messages in list(self.by_topic.items()):
            kept = [m for m in messages if (topic, m.partition()) not in gone]
            self.count -= len(messages) - len(kept)
            self.by_topic[topic] = kept
        self.offsets = {tp: o for tp, o in self.offsets.items() if tp not in gone}

    def __len__(self) -> int:
        return self.count


@dataclass
class PreparedBatch:
    """A batch ready to write: one load per table, the message behind each row, and what to commit."""

    loads: list[TableLoad] = field(default_factory=list)
    sources: dict[str, list[ConsumedMessage]] = field(default_factory=dict)  # table -> message of each row
    dead_letters: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)  # topic -> messages consumed

    @property
    def rows(self) -> int:
        return sum(len(load.rows) for load in self.loads)


class Preparer:
    """Decodes and validates buffered messages into a ``PreparedBatch``."""

    def __init__(self, topic_schemas: Mapping[str, str]) -> None:
        unknown = sorted(set(topic_schemas.values()) - set(TABLES))
        if unknown:
            raise ValueError(f"no table for schemas {unknown}")
        self.topic_schemas = dict(topic_schemas)
        self._decoders: dict[str, BatchDecoder | None] = {
            schema: TABLES[schema].batch_decoder() for schema in set(topic_schemas.values())}

    def prepare(self, buffer: MessageBuffer) -> PreparedBatch:
        batch = PreparedBatch(offsets=dict(buffer.offsets))
        parts: dict[str, list[tuple[CopyRows, list[ConsumedMessage]]]] = {}
        for topic, messages in buffer.by_topic.items():
            if not messages:
                continue
            batch.records[topic] = len(messages)
            if any(m.key() is None for m in messages):  # every topic is keyed: such a record was sent wrong
                batch.dead_letters += [DeadLetter(m, "CodecError", NULL_KEY) for m in messages if m.key() is None]
                messages = [m for m in messages if m.key() is not None]
            schema = self.topic_schemas[topic]
            spec = TABLES[schema]
            decoder = self._decoders[schema]
            declined = self._decode_columns(spec, decoder, messages, parts) if decoder is not None else messages
            self._decode_records(spec, declined, parts, batch.dead_letters)
        for table, pieces in parts.items():
            spec = next(s for s in TABLES.values() if s.name == table)
            batch.loads.append(TableLoad(spec, CopyRows.concat([rows for rows, _ in pieces])))
            batch.sources[table] = [m for _, sources in pieces for m in sources]
        return batch

    def _decode_columns(self, spec: TableSpec, decoder: BatchDecoder, messages: Sequence[ConsumedMessage],
                        parts: dict[str, list[tuple[CopyRows, list[ConsumedMessage]]]]) -> list[ConsumedMessage]:
        """Decode column-wise; returns the messages left for the per-record path."""
        # a tombstone (None) is not a record: b"" fails the framing check and goes to the codec
        values = [m.value() or b"" for m in messages]
        decoded = decoder.decode(values)
        usable = decoded.ok.copy()
        for mask in invalid_rows(spec, decoded).values():
            usable &= ~mask  # the per-record path names the problem for the dead letter
        rows = np.flatnonzero(usable)
        if len(rows):
            sources = [messages[i] for i in rows.tolist()] if len(rows) < len(messages) else list(messages)
            traces = trace_ids([header_value(m.headers()) for m in sources])
            parts.setdefault(spec.name, []).append((rows_from_batch(spec, decoded, rows, traces), sources))
        return [messages[i] for i in np.flatnonzero(~usable).tolist()]

    def _decode_records(self, spec: TableSpec, messages: Sequence[ConsumedMessage],
                        parts: dict[str, list[tuple[CopyRows, list[ConsumedMessage]]]],
                        dead_letters: list[DeadLetter]) -> None:
        records, sources = [], []
        for message in messages:
            try:
                name, record = decode_with_name(message.value() or b"")
            except CodecError as exc:
                dead_letters.append(DeadLetter(message, type(exc).__name__, str(exc)))
                continue
            if name != spec.schema_name:
                dead_letters.append(DeadLetter(
                    message, "SchemaMismatch",
                    f"a {name} record on {message.topic()}, which carries {spec.schema_name} records"))
                continue
            problem = record_problem(spec, record)
            if problem is not None:
                dead_letters.append(DeadLetter(message, "InvalidRecord", problem))
                continue
            records.append(record)
            sources.append(message)
        if records:
            traces = trace_ids([header_value(m.headers()) for m in sources])
            parts.setdefault(spec.name, []).append((rows_from_records(spec, records, traces), sources))
