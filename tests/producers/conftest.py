"""Shared generated data for the generator tests: one 100k-event run, decoded once per session."""

from __future__ import annotations

from typing import Any

import pytest

from producers.records import RecordEncoder
from producers.stream import StreamConfig, TransactionStream
from schemas.codec import decode

CONSISTENCY_EVENTS = 100_000


@pytest.fixture(scope="session")
def stream_100k() -> tuple[TransactionStream, list[bytes], list[bytes]]:
    """The first 100,000 transactions (and labels) of seed 7 with default populations, encoded."""
    stream = TransactionStream(StreamConfig(seed=7, customers=5_000, merchants=1_000))
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(CONSISTENCY_EVENTS))
    return stream, encoder.encode_transactions(batch), encoder.encode_labels(batch)


@pytest.fixture(scope="session")
def transactions_100k(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]]) -> list[dict[str, Any]]:
    return [decode(r) for r in stream_100k[1]]
