"""`synfinance generate`: the stream written to files (customers, merchants, transactions, labels).

The same generator and the same encoder as the Kafka producer, so a file holds exactly the records
a seeded producer run would publish. Files are byte-identical for the same seed and config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synfinance.producers.files import AvroFileWriter, CsvFileWriter, ParquetFileWriter
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import encode, single_object_prefix

BATCH = 20_000
PREFIX_LENGTH = 10  # single-object header: C3 01 + 8-byte fingerprint


@dataclass(frozen=True)
class DatasetResult:
    files: dict[str, Path]
    transactions: int
    customers: int
    merchants: int


def _writer(fmt: str, directory: Path, name: str, sync_seed: str) -> AvroFileWriter | CsvFileWriter | ParquetFileWriter:
    path = directory / f"{name}s.{fmt}"
    if fmt == "avro":
        return AvroFileWriter(path, name, sync_seed)
    if fmt == "csv":
        return CsvFileWriter(path, name)
    return ParquetFileWriter(path, name)


def _write(writer: AvroFileWriter | CsvFileWriter | ParquetFileWriter, framed: list[bytes]) -> None:
    if isinstance(writer, AvroFileWriter):
        writer.write_bodies(r[PREFIX_LENGTH:] for r in framed)
    else:
        writer.write_framed(framed)


def write_dataset(config: StreamConfig, events: int, out_dir: Path, fmt: str = "avro",
                  progress: Callable[[int], None] | None = None) -> DatasetResult:
    """Generate `events` transactions (and their labels) plus the populations into `out_dir`."""
    stream = TransactionStream(config)
    world = stream.world
    sync_seed = f"{config}"
    start_us = config.start_us
    files: dict[str, Path] = {}
    for name, population in (("customer", world.customers), ("merchant", world.merchants)):
        with _writer(fmt, out_dir, name, sync_seed) as writer:
            _write(writer, [encode(name, population.record(k, start_us)) for k in range(len(population))])
        files[f"{name}s"] = writer.path
    encoder = RecordEncoder(world, single_object_prefix("transaction"),
                            single_object_prefix("label"))
    written = 0
    with _writer(fmt, out_dir, "transaction", sync_seed) as transactions, \
            _writer(fmt, out_dir, "label", sync_seed) as labels:
        if events:
            for batch in stream.batches(min(BATCH, events)):
                batch = batch.slice(0, min(len(batch), events - written))
                _write(transactions, encoder.encode_transactions(batch))
                # every transaction's first label, then the revisions of this batch's transactions (a reader
                # takes the highest revision of a transaction as its truth)
                _write(labels, encoder.encode_labels(batch) + encoder.encode_revisions(batch)[1])
                written += len(batch)
                if progress:
                    progress(len(batch))
                if written >= events:
                    break
    files["transactions"], files["labels"] = transactions.path, labels.path
    return DatasetResult(files, written, len(world.customers), len(world.merchants))
