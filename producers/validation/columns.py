"""Transaction and Label records as columns: from an offline dataset's Avro files or from Kafka topics.

Strings become integer codes into a per-column vocabulary (a million rows of twenty string fields fit in
a few hundred MB that way); numbers become numpy arrays. Each transaction gets its label facts: the
truth (the Label of the highest revision), the delay of its first label, and how many labels it has.

>>> t = Table.from_records([{"a": "x", "n": 1}, {"a": None, "n": 2}, {"a": "x", "n": 3}], ("a",), ("n",))
>>> t.text("a").tolist(), t.number("n").tolist(), t.equals("a", "x").tolist()
(['x', None, 'x'], [1.0, 2.0, 3.0], [True, False, True])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synfinance.producers.files import avro_record

TEXT_FIELDS = ("transaction_id", "customer_id", "merchant_id", "payee_vpa", "payment_mode", "card_network",
               "card_type", "card_bin", "masked_pan", "payer_vpa", "instrument_id", "channel", "entry_mode",
               "transaction_type", "merchant_category", "mcc", "city", "state", "region", "device_id",
               "terminal_id", "ip_address", "status", "decline_reason", "response_code", "currency",
               "original_transaction_id")
NUMBER_FIELDS = ("event_time", "amount_paise", "city_tier", "latitude", "longitude")
LABEL_TEXT = ("transaction_id", "fraud_type", "anomaly_type")
LABEL_NUMBERS = ("event_time", "label_time", "revision", "is_fraud", "is_anomaly")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Table:
    """Columns by name: codes + vocabulary for text, float64 for numbers."""

    n: int
    codes: dict[str, npt.NDArray[np.int32]] = field(default_factory=dict)
    vocab: dict[str, list[Any]] = field(default_factory=dict)
    numbers: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], text: tuple[str, ...],
                     numbers: tuple[str, ...]) -> Table:
        index: dict[str, dict[Any, int]] = {name: {} for name in text}
        codes: dict[str, list[int]] = {name: [] for name in text}
        values: dict[str, list[float]] = {name: [] for name in numbers}
        n = 0
        for record in records:
            for name in text:
                seen = index[name]
                value = record[name]
                code = seen.get(value)
                if code is None:
                    code = seen[value] = len(seen)
                codes[name].append(code)
            for name in numbers:
                value = record[name]
                values[name].append(np.nan if value is None else _micros(value) if isinstance(value, datetime)
                                    else float(value))
            n += 1
        return cls(n, {k: np.array(v, dtype=np.int32) for k, v in codes.items()},
                   {k: list(v) for k, v in index.items()},
                   {k: np.array(v, dtype=np.float64) for k, v in values.items()})

    def text(self, name: str) -> npt.NDArray[np.object_]:
        vocab = np.empty(len(self.vocab[name]), dtype=object)
        vocab[:] = self.vocab[name]
        return vocab[self.codes[name]] if self.n else np.empty(0, dtype=object)

    def number(self, name: str) -> npt.NDArray[np.float64]:
        return self.numbers[name]

    def equals(self, name: str, value: Any) -> npt.NDArray[np.bool_]:
        code = {v: i for i, v in enumerate(self.vocab[name])}.get(value)
        return np.zeros(self.n, dtype=bool) if code is None else self.codes[name] == code

    def isin(self, name: str, values: Iterable[Any]) -> npt.NDArray[np.bool_]:
        wanted = set(values)
        hit = np.array([v in wanted for v in self.vocab[name]], dtype=bool)
        return hit[self.codes[name]] if self.n else np.zeros(0, dtype=bool)

    def null(self, name: str) -> npt.NDArray[np.bool_]:
        return self.equals(name, None)

    def mapped(self, name: str, function: Any, dtype: Any = object) -> np.ndarray:
        """`function` of each row's value, computed once per distinct value."""
        per_value = np.array([function(v) for v in self.vocab[name]], dtype=dtype)
        return per_value[self.codes[name]] if self.n else np.empty(0, dtype=dtype)


@dataclass
class Stream:
    """The transactions, in the order read, with their label facts."""

    transactions: Table
    labels: Table
    is_fraud: npt.NDArray[np.bool_]  # of the highest revision
    is_anomaly: npt.NDArray[np.bool_]
    fraud_type: npt.NDArray[np.object_]
    first_delay_us: npt.NDArray[np.float64]  # label_time - event_time of revision 0 (NaN when none)
    first_labels: npt.NDArray[np.int64]  # revision-0 labels per transaction

    @classmethod
    def build(cls, transactions: Table, labels: Table) -> Stream:
        n = transactions.n
        row_of = {t: i for i, t in enumerate(transactions.vocab["transaction_id"])}
        # transaction_id codes are first-appearance order: code -> row needs the inverse of the codes array
        code_row = np.full(len(row_of), -1, dtype=np.int64)
        code_row[transactions.codes["transaction_id"]] = np.arange(n)
        label_ids = labels.vocab["transaction_id"]
        label_row = np.array([code_row[row_of[t]] if t in row_of else -1 for t in label_ids], dtype=np.int64)
        rows = label_row[labels.codes["transaction_id"]] if labels.n else np.zeros(0, dtype=np.int64)
        revision = labels.number("revision")
        known = rows >= 0
        # the truth: the highest revision of each transaction (labels sorted by revision, the last wins)
        order = np.lexsort((revision, rows))
        order = order[known[order]]
        truth = np.full(n, -1, dtype=np.int64)
        truth[rows[order]] = order
        has = truth >= 0
        at = np.where(has, truth, 0)
        fraud_types = labels.text("fraud_type")
        first = known & (revision == 0)
        delay = np.full(n, np.nan)
        delay[rows[first]] = labels.number("label_time")[first] - labels.number("event_time")[first]
        return cls(transactions, labels,
                   is_fraud=has & (labels.number("is_fraud")[at] == 1) if labels.n else np.zeros(n, dtype=bool),
                   is_anomaly=has & (labels.number("is_anomaly")[at] == 1) if labels.n else np.zeros(n, dtype=bool),
                   fraud_type=np.where(has, fraud_types[at], np.array(None, dtype=object)) if labels.n
                   else np.full(n, None, dtype=object),
                   first_delay_us=delay,
                   first_labels=np.bincount(rows[first], minlength=n).astype(np.int64))

    @property
    def n(self) -> int:
        return self.transactions.n


def read_dataset(directory: Path, limit: int | None = None) -> Stream:
    """The transactions and labels files of a dataset written by `synfinance generate` (Avro)."""
    transactions = Table.from_records(_first(_avro_records(directory / "transactions.avro", "transaction"), limit),
                                      TEXT_FIELDS, NUMBER_FIELDS)
    labels = Table.from_records(_avro_records(directory / "labels.avro", "label"), LABEL_TEXT, LABEL_NUMBERS)
    return Stream.build(transactions, labels)


def _avro_records(path: Path, schema: str) -> Iterator[dict[str, Any]]:
    """One record at a time (timestamps as raw microseconds: read with the raw schema)."""
    import fastavro

    from synfinance.schemas.codec import load_raw_schema

    with path.open("rb") as handle:
        for value in fastavro.reader(handle, reader_schema=load_raw_schema(schema)):
            yield avro_record(value)


def read_topics(bootstrap: str, transactions_topic: str, labels_topic: str, limit: int | None = None,
                timeout: float = 30.0) -> Stream:
    """Every record now on the two topics (up to their end offsets), the first `limit` transactions."""
    from synfinance.producers.validation.topic_reader import read_topic

    transactions = Table.from_records(_first(read_topic(bootstrap, transactions_topic, timeout), limit),
                                      TEXT_FIELDS, NUMBER_FIELDS)
    labels = Table.from_records(read_topic(bootstrap, labels_topic, timeout), LABEL_TEXT, LABEL_NUMBERS)
    return Stream.build(transactions, labels)


def _micros(moment: datetime) -> float:
    """A timestamp-micros value that a reader returned as a datetime, as microseconds since the epoch."""
    return float((moment - _EPOCH) // timedelta(microseconds=1))


def _first(records: Iterable[dict[str, Any]], limit: int | None) -> Iterator[dict[str, Any]]:
    for i, record in enumerate(records):
        if limit is not None and i >= limit:
            return
        yield record
