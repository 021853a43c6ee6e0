"""A small seeded stream for the processor tests, generated and decoded once per session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from processors.features import reference_features
from producers.records import RecordEncoder
from producers.stream import StreamConfig, TransactionStream
from schemas.codec import decode, encode

SEED, CUSTOMERS, MERCHANTS, EVENTS = 11, 2_000, 400, 20_000


@dataclass
class Dataset:
    """Encoded records as the producer would send them, decoded ones, and the reference features."""

    config: StreamConfig
    transaction_values: list[bytes]
    label_values: list[bytes]
    customer_values: list[tuple[str, bytes]]
    transactions: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    homes: dict[str, tuple[float, float]]
    reference: dict[str, dict[str, Any]]  # transaction id -> features


def build_dataset(events: int = EVENTS, seed: int = SEED) -> Dataset:
    config = StreamConfig(seed=seed, customers=CUSTOMERS, merchants=MERCHANTS)
    stream = TransactionStream(config)
    batch = next(stream.batches(events))
    encoder = RecordEncoder(stream.world)
    txn_values, label_values = encoder.encode_transactions(batch), encoder.encode_labels(batch)
    transactions = [decode(v) for v in txn_values]
    labels = [decode(v) for v in label_values]
    customers = stream.world.customers
    homes = {customers.ids[k]: (float(customers.home_lat[k]), float(customers.home_lon[k]))
             for k in range(len(customers))}
    customer_values = [(customers.ids[k], encode("customer", customers.record(k, config.start_us)))
                       for k in range(len(customers))]
    features = reference_features(transactions, labels, homes)
    reference = {t["transaction_id"]: f for t, f in zip(transactions, features, strict=True)}
    return Dataset(config, txn_values, label_values, customer_values, transactions, labels, homes, reference)


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return build_dataset()
