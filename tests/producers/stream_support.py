"""Generated streams for the generator tests, and reading them as a bank would: a transaction's truth is its
highest-revision label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers.events import EventColumns
from synfinance.producers.records import RecordEncoder
from synfinance.producers.scenarios.engine import WARM_UP_BLOCKS
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.batch_decode import BatchDecoder

RING_SCENARIOS = 9 * 10**17  # producers.scenarios.engine.ring_scenario_id: ring scenarios are numbered from here


@dataclass(frozen=True)
class EncodedStream:
    """The first events of one stream: its rows (the generator's truth) and their encoded records."""

    stream: TransactionStream
    events: EventColumns
    transactions: list[bytes]
    first_labels: list[bytes]          # one per transaction (revision 0), in transaction order
    revisions: list[bytes]             # the revision labels of the rows `revised`, in that order
    revised: npt.NDArray[np.int64]     # rows of `events` whose first label is revised later

    @property
    def labels(self) -> list[bytes]:
        """What the labels topic and file carry: every first label and every revision."""
        return self.first_labels + self.revisions

    def decoded_transactions(self, fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return decode_all("transaction", self.transactions, fields)

    def decoded_labels(self) -> list[dict[str, Any]]:
        return decode_all("label", self.labels)


def encoded_stream(config: StreamConfig, events: int) -> EncodedStream:
    stream = TransactionStream(config)
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(events))
    revised, revisions = encoder.encode_revisions(batch)
    return EncodedStream(stream, batch, encoder.encode_transactions(batch), encoder.encode_labels(batch), revisions,
                         revised)


def decode_all(schema: str, values: list[bytes], fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every value decoded (exactly as schemas.codec.decode would, BatchDecoder's guarantee), fast."""
    batch = BatchDecoder(schema).decode(values)
    assert batch.ok.all()
    return batch.records(fields=fields)


def customer_ordinal(customer_id: str) -> int:
    """k from `C<stream id>-<k + 1, 8 digits>`."""
    return int(customer_id.split("-")[1]) - 1


def scenario_block(scenario_id: str) -> int:
    """The block a scenario was planned in, from its id `S<stream id>-<number>` (negative: a warm-up block
    before the stream's start, whose scenario the stream shows only from the start on)."""
    number = int(scenario_id.split("-")[1])
    if number >= RING_SCENARIOS:
        return (number - RING_SCENARIOS) // 100 % 100_000 - WARM_UP_BLOCKS
    return number // 1_000 % 100_000 - WARM_UP_BLOCKS
