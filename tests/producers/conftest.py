"""Shared generated data for the generator tests, generated once per session: a 100k-event run of seed 7 on
a smaller population, decoded, and the first 100k events of the default stream of seed 1, encoded."""

from __future__ import annotations

from typing import Any

import pytest

from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode
from tests.producers.stream_support import EncodedStream, encoded_stream

CONSISTENCY_EVENTS = 100_000


@pytest.fixture(scope="session")
def stream_100k() -> tuple[TransactionStream, list[bytes], list[bytes]]:
    """The first 100,000 transactions of seed 7 with 5,000 customers, encoded, and all their labels (every
    transaction's first label, then the revisions of those whose first label is revised)."""
    stream = TransactionStream(StreamConfig(seed=7, customers=5_000, merchants=1_000))
    encoder = RecordEncoder(stream.world)
    batch = next(stream.batches(CONSISTENCY_EVENTS))
    labels = encoder.encode_labels(batch) + encoder.encode_revisions(batch)[1]
    return stream, encoder.encode_transactions(batch), labels


@pytest.fixture(scope="session")
def transactions_100k(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]]) -> list[dict[str, Any]]:
    return [decode(r) for r in stream_100k[1]]


@pytest.fixture(scope="session")
def default_seed1_100k() -> EncodedStream:
    """The first 100,000 events of the default stream (10,000 customers, 2,000 merchants) of seed 1."""
    return encoded_stream(StreamConfig(seed=1), CONSISTENCY_EVENTS)
