"""The processor's output records as bytes: ScoredTransaction column-wise, Alert per record.

A worker scores transactions in batches (`processors.engine.ScoredBatch`), so it encodes their
ScoredTransaction records the same way, field by field for the whole batch with the shared
`schemas.batch.BatchEncoder` (~20x cheaper than fastavro per record; the bytes are identical to
`schemas.codec.encode` of `ScoredBatch.records()`, see tests/processors/test_parts.py). Alerts are rare
and carry an array (the reasons), which the column-wise encoder does not do: the codec encodes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synfinance.processors.engine import ScoredBatch
from synfinance.processors.features import FEATURE_NAMES
from synfinance.schemas.batch import BatchEncoder, FixedStrings, Vocab
from synfinance.schemas.codec import load_raw_schema
from synfinance.schemas.fields import leaf_fields

__all__ = ["ScoredEncoder"]


def _feature_kinds() -> dict[str, str]:
    """Feature name -> numpy dtype of its column: 'i' (int/long), 'b' (boolean), 'f' (double, NaN = null)."""
    kinds = {}
    for name, type_ in leaf_fields(load_raw_schema("scored_transaction")):
        if name.startswith("features."):
            leaf = type_[1] if isinstance(type_, list) else type_
            kinds[name.removeprefix("features.")] = {"int": "i", "long": "i", "boolean": "b", "double": "f"}[leaf]
    if tuple(kinds) != FEATURE_NAMES:
        raise RuntimeError("scored_transaction.avsc features and processors.features.FEATURE_NAMES disagree")
    return kinds


class ScoredEncoder:
    """Encodes a `ScoredBatch` into ScoredTransaction values, one per transaction, in batch order."""

    def __init__(self, prefix: bytes | None = None) -> None:
        """`prefix`: the framing header (default: single-object; `Codec.prefix` for a registry's)."""
        self._encoder = BatchEncoder("scored_transaction", prefix)
        self._kinds = _feature_kinds()

    def encode(self, batch: ScoredBatch) -> list[bytes]:
        n = len(batch.prepared)
        if n == 0:
            return []
        records = [p.record for p in batch.prepared]
        features = [p.features for p in batch.prepared]
        index = np.arange(n)
        columns: dict[str, Any] = {
            "transaction_id": _strings([r["transaction_id"] for r in records], index),
            "customer_id": _strings([r["customer_id"] for r in records], index),
            "event_time": np.array([r["event_time"] for r in records], dtype=np.int64),
            "amount_paise": np.array([r["amount_paise"] for r in records], dtype=np.int64),
            "score": np.asarray(batch.scores, dtype=np.float64),
            "model_version": Vocab(np.zeros(n, dtype=np.int64), [batch.model_version]),
            "processed_at": np.full(n, int(batch.processed_at * 1e6), dtype=np.int64),
            "processing_latency_ms": np.array([batch.latency_ms(p) for p in batch.prepared], dtype=np.float64),
        }
        for name, kind in self._kinds.items():
            values = [f[name] for f in features]
            if kind == "f":
                column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            else:
                column = np.array(values, dtype=np.int64 if kind == "i" else np.bool_)
            columns[f"features.{name}"] = column
        return self._encoder.encode(columns, n)


def _strings(values: list[str], index: np.ndarray) -> FixedStrings | Vocab:
    """A string column: fixed-width bytes when every value has one length (generated ids do), which
    encodes with a few numpy calls; else a vocabulary of the values."""
    encoded = [value.encode() for value in values]
    if (len(set(map(len, encoded))) == 1 and encoded[0]
            and all(value.isascii() and not value.endswith("\x00") for value in values)):
        return FixedStrings(np.array(encoded))
    return Vocab(index, values)
