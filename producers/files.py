"""Offline datasets: Avro object container files, CSV, and Parquet (if pyarrow is installed).

The Avro writer takes record bodies already encoded by the batch encoder (the framing prefix is
stripped), so writing a file costs no per-record fastavro call. Its sync marker is derived from the
seed instead of drawn at random, so the same seed and config give byte-identical files; deflate
(zlib) output is deterministic too. Any Avro reader (fastavro, avro-tools, Spark) reads the files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from synfinance.schemas.codec import decode, schema_json
from synfinance.schemas.varints import zigzag_varint

FORMATS = ("avro", "csv", "parquet")
MAGIC = b"Obj\x01"
BLOCK_RECORDS = 10_000


def _avro_bytes(data: bytes) -> bytes:
    return zigzag_varint(len(data)) + data


class AvroFileWriter:
    """Writes an Avro object container file from pre-encoded record bodies."""

    def __init__(self, path: Path, schema_name: str, sync_seed: str, codec: str = "deflate") -> None:
        if codec not in ("null", "deflate"):
            raise ValueError(f"unsupported Avro codec {codec!r}")
        self.path, self.codec = path, codec
        self.sync = hashlib.sha256(f"synfinance:{sync_seed}:{schema_name}".encode()).digest()[:16]
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()/__exit__
        schema = json.dumps(schema_json(schema_name), separators=(",", ":")).encode()
        meta = {b"avro.schema": schema, b"avro.codec": codec.encode()}
        header = bytearray(MAGIC)
        header += zigzag_varint(len(meta))
        for key, value in meta.items():
            header += _avro_bytes(key) + _avro_bytes(value)
        header += zigzag_varint(0) + self.sync
        self._file.write(header)
        self._pending: list[bytes] = []
        self.records = 0

    def write_bodies(self, bodies: Iterable[bytes]) -> None:
        for body in bodies:
            self._pending.append(body)
            if len(self._pending) >= BLOCK_RECORDS:
                self._flush_block()

    def _flush_block(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        if self.codec == "deflate":
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate, as the Avro spec says
            data = compressor.compress(data) + compressor.flush()
        self._file.write(zigzag_varint(len(self._pending)) + zigzag_varint(len(data)) + data + self.sync)
        self.records += len(self._pending)
        self._pending = []

    def close(self) -> None:
        self._flush_block()
        self._file.close()

    def __enter__(self) -> AvroFileWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class CsvFileWriter:
    """Writes framed records as CSV rows (decoded with the codec; arrays and nested records as JSON)."""

    def __init__(self, path: Path, schema_name: str) -> None:
        self.path = path
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._fields = [f["name"] for f in schema_json(schema_name)["fields"]]
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self._fields)
        self.records = 0

    def write_framed(self, records: Iterable[bytes]) -> None:
        rows = []
        for data in records:
            record = decode(data)
            rows.append([_cell(record[name]) for name in self._fields])
        self._writer.writerows(rows)
        self.records += len(rows)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvFileWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return value


class ParquetFileWriter:
    """Writes framed records to Parquet through pyarrow (an optional dependency)."""

    def __init__(self, path: Path, schema_name: str) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--format parquet needs pyarrow: pip install 'synfinance[parquet]'") from None
        self.path = path
        self._rows: list[dict[str, Any]] = []
        self.records = 0

    def write_framed(self, records: Iterable[bytes]) -> None:
        for data in records:
            self._rows.append(decode(data))
        self.records = len(self._rows)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(self._rows), self.path)

    def __enter__(self) -> ParquetFileWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def read_avro(path: Path) -> list[dict[str, Any]]:
    """All records of an Avro container file, timestamps as raw ints (for tests and `validate`)."""
    import fastavro

    from synfinance.schemas.codec import load_raw_schema

    with open(path, "rb") as handle:
        schema = fastavro.reader(handle).writer_schema
        if not isinstance(schema, dict):
            raise ValueError(f"{path}: the writer schema is not a record schema")
        name = str(schema["name"]).rsplit(".", 1)[-1]
        stem = {"ScoredTransaction": "scored_transaction"}.get(name, name.lower())
        handle.seek(0)
        return [avro_record(value) for value in fastavro.reader(handle, reader_schema=load_raw_schema(stem))]


def avro_record(value: object) -> dict[str, Any]:
    """A value read with a record schema, as the dict it is (fastavro types every value as any Avro datum)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected an Avro record, read {type(value).__name__}")
    return value

