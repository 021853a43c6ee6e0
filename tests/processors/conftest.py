"""A small seeded stream for the processor tests, generated and decoded once per session."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from synfinance.common.units import HOUR_US
from synfinance.processors.features import reference_features
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode, encode

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
    revisions: list[dict[str, Any]] = field(default_factory=list)  # the generator's revision-1 labels


def build_dataset(events: int = EVENTS, seed: int = SEED) -> Dataset:
    config = StreamConfig(seed=seed, customers=CUSTOMERS, merchants=MERCHANTS)
    stream = TransactionStream(config)
    batch = next(stream.batches(events))
    encoder = RecordEncoder(stream.world)
    txn_values, label_values = encoder.encode_transactions(batch), encoder.encode_labels(batch)
    transactions = [decode(v) for v in txn_values]
    labels = [decode(v) for v in label_values]
    revisions = [decode(v) for v in encoder.encode_revisions(batch)[1]]
    customers = stream.world.customers
    homes = {customers.ids[k]: (float(customers.home_lat[k]), float(customers.home_lon[k]))
             for k in range(len(customers))}
    customer_values = [(customers.ids[k], encode("customer", customers.record(k, config.start_us)))
                       for k in range(len(customers))]
    features = reference_features(transactions, labels, homes)
    reference = {t["transaction_id"]: f for t, f in zip(transactions, features, strict=True)}
    return Dataset(config, txn_values, label_values, customer_values, transactions, labels, homes, reference,
                   revisions)


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return build_dataset()


def with_chargebacks(dataset: Dataset, first_hours: float = 30.0, revision_hours: tuple[float, float] = (12.0, 30.0),
                     seed: int = 5) -> tuple[Dataset, list[dict[str, Any]]]:
    """The dataset with the generator's label revisions of the stream's first `first_hours`: each fraud it
    charges back is first labelled legitimate (revision 0, here 1-6 h after the event) and revised to fraud
    (revision 1) `revision_hours` after the event: the protocol's 30-90 days, compressed so that the
    revision lands inside the 70 h stream. Returns the dataset (its labels in label-time order, reference features
    recomputed) and the revision-1 labels."""
    low, high = revision_hours
    rng = np.random.default_rng(seed)
    start = dataset.transactions[0]["event_time"]
    firsts = {label["transaction_id"]: label for label in dataset.labels}
    labels, revisions = [], []
    for label in dataset.labels:
        labels.append(label)
    # the generator labels each charged-back fraud legitimate first (revision 0) and sends the fraud truth as
    # revision 1 30-90 days later: here compressed, and the first label brought to 1-6 h after the event
    for revision in dataset.revisions:
        if revision["event_time"] >= start + first_hours * HOUR_US:
            continue
        first = firsts[revision["transaction_id"]]
        first_time = revision["event_time"] + int((1 + 5 * rng.random()) * HOUR_US)
        labels[labels.index(first)] = {**first, "label_time": first_time}
        revision = {**revision, "label_time": max(first_time + 1, revision["event_time"] + int(
            (low + (high - low) * rng.random()) * HOUR_US))}
        labels.append(revision)
        revisions.append(revision)
    labels.sort(key=lambda label: (label["label_time"], label["transaction_id"], label["revision"]))
    features = reference_features(dataset.transactions, labels, dataset.homes)
    reference = {t["transaction_id"]: f for t, f in zip(dataset.transactions, features, strict=True)}
    return replace(dataset, labels=labels, label_values=[encode("label", label) for label in labels],
                   reference=reference), revisions


@pytest.fixture(scope="session")
def revised(dataset: Dataset) -> tuple[Dataset, list[dict[str, Any]]]:
    return with_chargebacks(dataset)
