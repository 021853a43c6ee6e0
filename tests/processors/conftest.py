"""A small seeded stream for the processor tests, generated and decoded once per session."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from processors.features import DAY_US, HOUR_US, reference_features
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


def with_chargebacks(dataset: Dataset, first_hours: float = 30.0, revision_hours: tuple[float, float] = (12.0, 30.0),
                     seed: int = 5) -> tuple[Dataset, list[dict[str, Any]]]:
    """The dataset under the label revision protocol: each fraud its victim does not report at once (the
    generator's chargebacks and every friendly_fraud, of the stream's first `first_hours`) is first
    labelled legitimate (revision 0, 1-6 h after the event) and revised to fraud (revision 1)
    `revision_hours` after the event: the protocol's 30-90 days, compressed so that the revision lands
    inside the 70 h stream. Returns the dataset (its labels in label-time order, reference features
    recomputed) and the revision-1 labels."""
    low, high = revision_hours
    rng = np.random.default_rng(seed)
    start = dataset.transactions[0]["event_time"]
    labels, revisions = [], []
    for label in dataset.labels:
        delay = label["label_time"] - label["event_time"]
        late = delay > 7 * DAY_US or label["fraud_type"] == "friendly_fraud"
        if label["is_fraud"] and late and label["event_time"] < start + first_hours * HOUR_US:
            first = {**label, "is_fraud": False, "fraud_type": None, "scenario_id": None,
                     "label_time": label["event_time"] + int((1 + 5 * rng.random()) * HOUR_US)}
            revision = {**label, "revision": 1,
                        "label_time": label["event_time"] + int((low + (high - low) * rng.random()) * HOUR_US)}
            labels += [first, revision]
            revisions.append(revision)
        else:
            labels.append(label)
    labels.sort(key=lambda label: (label["label_time"], label["transaction_id"], label["revision"]))
    features = reference_features(dataset.transactions, labels, dataset.homes)
    reference = {t["transaction_id"]: f for t, f in zip(dataset.transactions, features, strict=True)}
    return replace(dataset, labels=labels, label_values=[encode("label", label) for label in labels],
                   reference=reference), revisions


@pytest.fixture(scope="session")
def revised(dataset: Dataset) -> tuple[Dataset, list[dict[str, Any]]]:
    return with_chargebacks(dataset)
