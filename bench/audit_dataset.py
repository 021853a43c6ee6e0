"""The offline dataset the leak audit reads, as an outsider gets it (SPEC §1 job 5, §4).

`load` reads the Avro container files that `producers.dataset.write_dataset` writes (customers, merchants,
transactions, labels) with plain `fastavro.reader`, and nothing of the generator's internals. Transactions
are put in event-time order; the Transaction fields become columns (numpy float64 for numeric fields,
object arrays of str/None for strings and enums), typed from the file's own writer schema.

Customers and merchants: the earliest version of each profile (a compacted topic may hold later ones).
A transaction may have several Label records (SPEC §4): revision 0 is the first verdict, a higher revision
replaces it. Its *true* label is the one of the highest revision; its *first label time* is the label_time
of revision 0.

>>> micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)), micros(7)
(1000005, 7)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import numpy.typing as npt

from synfinance.producers.dataset import write_dataset
from synfinance.producers.stream import StreamConfig

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
NUMERIC_TYPES = frozenset(("int", "long", "float", "double", "boolean"))
INTEGER_TYPES = frozenset(("int", "long", "boolean"))
FILES = ("customers", "merchants", "transactions", "labels")


def micros(value: datetime | int) -> int:
    """A timestamp-micros value as fastavro returns it (a datetime) back to microseconds since the epoch."""
    return value if isinstance(value, int) else (value - EPOCH) // ONE_US


def epoch_days(value: date | int) -> int:
    return value if isinstance(value, int) else (value - EPOCH.date()).days


def write(seed: int, events: int, out_dir: Path) -> None:
    """The default stream of `seed`, `events` transactions long, as the project's `generate` writes it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dataset(StreamConfig(seed=seed), events, out_dir)


def has_dataset(directory: Path) -> bool:
    return all((directory / f"{name}.avro").is_file() for name in FILES)


def _read(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with path.open("rb") as f:
        reader = fastavro.reader(f)
        return list(reader), reader.writer_schema


def _first_versions(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The earliest version of each profile (by updated_at): a later one may know what happened since."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        known = out.get(record[key])
        if known is None or micros(record["updated_at"]) < micros(known["updated_at"]):
            out[record[key]] = record
    return out


def _is_a(avro_type: Any, kinds: frozenset[str]) -> bool:
    if isinstance(avro_type, list):  # a union: the non-null branch decides
        return all(_is_a(t, kinds) for t in avro_type if t != "null")
    if isinstance(avro_type, dict):
        return avro_type.get("type") in kinds
    return avro_type in kinds


@dataclass
class AuditData:
    """One dataset, transactions in event-time order, with each transaction's true and first labels."""

    fields: tuple[str, ...]  # Transaction fields, in the schema's order
    numeric: frozenset[str]  # the fields whose Avro type is a number (timestamps included)
    integers: frozenset[str]  # the numeric fields that are whole numbers
    columns: dict[str, np.ndarray]
    customers: dict[str, dict[str, Any]]
    merchants: dict[str, dict[str, Any]]
    labels: list[dict[str, Any]]  # every Label record, times in microseconds
    true_labels: list[dict[str, Any] | None]  # per transaction: its Label of the highest revision
    time_us: npt.NDArray[np.int64]
    y: npt.NDArray[np.int8]  # true label: is_fraud of the highest revision
    fraud_type: np.ndarray  # of the true label (None when legitimate)
    is_anomaly: npt.NDArray[np.bool_]  # of the true label
    first_label_us: npt.NDArray[np.int64]  # label_time of revision 0 (-1 when it has none)
    revised: int  # Label records with revision > 0
    unlabelled: int  # transactions without any Label record

    @property
    def n(self) -> int:
        return len(self.time_us)

    def split(self, train_share: float = 0.7) -> tuple[slice, slice]:
        """The first `train_share` of the transactions by event time, and the rest."""
        cut = int(self.n * train_share)
        return slice(0, cut), slice(cut, self.n)


def load(directory: Path) -> AuditData:
    """Read a dataset directory written by `write` (or by `synfinance generate --format avro`)."""
    customers = _first_versions(_read(directory / "customers.avro")[0], "customer_id")
    merchants = _first_versions(_read(directory / "merchants.avro")[0], "merchant_id")
    records, schema = _read(directory / "transactions.avro")
    fields = tuple(f["name"] for f in schema["fields"])
    numeric = frozenset(f["name"] for f in schema["fields"] if _is_a(f["type"], NUMERIC_TYPES))
    integers = frozenset(f["name"] for f in schema["fields"] if _is_a(f["type"], INTEGER_TYPES))
    time_us = np.array([micros(r["event_time"]) for r in records], dtype=np.int64)
    order = np.argsort(time_us, kind="stable")
    records = [records[i] for i in order.tolist()]
    time_us = time_us[order]
    columns: dict[str, np.ndarray] = {}
    for name in fields:
        values = [r[name] for r in records]
        if name == "event_time":
            columns[name] = time_us.astype(np.float64)
        elif name in numeric:
            columns[name] = np.array([np.nan if v is None else float(v) for v in values])
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            columns[name] = column
    del records

    labels, _ = _read(directory / "labels.avro")
    row_of = {t: i for i, t in enumerate(columns["transaction_id"].tolist())}
    n = len(time_us)
    best = np.full(n, -1, dtype=np.int64)
    truth: list[dict[str, Any] | None] = [None] * n
    first = np.full(n, -1, dtype=np.int64)
    revised = 0
    for label in labels:
        label["event_time"], label["label_time"] = micros(label["event_time"]), micros(label["label_time"])
        revision = label.get("revision", 0)
        revised += revision > 0
        i = row_of.get(label["transaction_id"])
        if i is None:
            continue
        if revision == 0:
            first[i] = label["label_time"]
        if revision > best[i]:
            best[i], truth[i] = revision, label
    no_label = {"is_fraud": False, "fraud_type": None, "is_anomaly": False}
    truths = [no_label if t is None else t for t in truth]
    fraud_type = np.empty(n, dtype=object)
    fraud_type[:] = [t["fraud_type"] for t in truths]
    return AuditData(
        fields=fields, numeric=numeric, integers=integers, columns=columns, customers=customers,
        merchants=merchants, labels=labels, true_labels=truth, time_us=time_us,
        y=np.array([t["is_fraud"] for t in truths], dtype=np.int8), fraud_type=fraud_type,
        is_anomaly=np.array([t["is_anomaly"] for t in truths], dtype=bool), first_label_us=first,
        revised=int(revised), unlabelled=int((best < 0).sum()))
