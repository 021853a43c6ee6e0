"""Benchmark: Transaction encoding, fastavro per record vs the column-wise BatchEncoder.

Run: ``python bench/bench_codec.py [--rows 100000] [--repeat 3]``. Prints records/s (best of
``--repeat``) for the same rows encoded by fastavro's schemaless_writer one record at a time (schema
parsed once), by ``schemas.codec.encode`` (the same plus framing), by ``BatchEncoder`` at a few batch
sizes, and for ``schemas.codec.decode``. Vocabulary sizes are those of a mid-sized generated world.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import fastavro
import numpy as np

from synfinance.schemas.batch import BatchEncoder, FixedStrings, Vocab
from synfinance.schemas.codec import decode, encode, load_schema, single_object_prefix

CUSTOMERS, MERCHANTS, CITIES = 100_000, 20_000, 120
BANKS = ["State Bank of India", "HDFC Bank", "ICICI Bank", "Axis Bank", "Kotak Mahindra Bank", "Paytm"]
STATES = ["Maharashtra", "Karnataka", "Tamil Nadu", "Delhi", "West Bengal", "Telangana", "Gujarat", "Assam"]
REGIONS = ["North", "South", "East", "West", "Central", "Northeast"]
CATEGORIES = ["Grocery", "Restaurants", "Fuel", "Electronics", "Travel", "Pharmacy", "Apparel", "Utilities"]


def _vocab(rng: np.random.Generator, values: Sequence[str | None], n: int, p_null: float = 0.0) -> Vocab:
    codes = rng.integers(1 if values[0] is None else 0, len(values), n)
    if p_null:
        codes[rng.random(n) < p_null] = 0
    return Vocab(codes, values)


def transaction_columns(n: int, seed: int = 7) -> dict[str, Any]:
    """Columns shaped like the producer's: ids as fixed strings, everything categorical as a Vocab."""
    rng = np.random.default_rng(seed)
    customers = [f"CUST{i:08d}" for i in range(CUSTOMERS)]
    opt_merchants: list[str | None] = [None, *(f"MER{i:07d}" for i in range(MERCHANTS))]
    upi = rng.random(n) < 0.6
    ids = np.char.add(b"TXN-", np.char.zfill(np.arange(n).astype("S20"), 20))

    def nullable(values: list[str], p_null: float) -> Vocab:
        return _vocab(rng, [None, *values], n, p_null)

    return {
        "transaction_id": FixedStrings(ids),
        "event_time": 1_732_352_400_000_000 + np.sort(rng.integers(0, 3_600_000_000, n)),
        "customer_id": _vocab(rng, customers, n),
        "merchant_id": _vocab(rng, opt_merchants, n, 0.1),
        "payee_vpa": nullable([f"merchant{i}@okaxis" for i in range(MERCHANTS)], 0.4),
        "amount_paise": np.maximum(rng.lognormal(11, 1.4, n).astype(np.int64), 100),
        "currency": _vocab(rng, ["INR"], n),
        "payment_mode": Vocab(
            np.where(upi, 0, rng.integers(1, 6, n)),
            ["UPI", "DEBIT_CARD", "CREDIT_CARD", "WALLET", "NET_BANKING", "BNPL"],
        ),
        "card_network": nullable(["VISA", "MASTERCARD", "RUPAY", "AMEX", "DINERS"], 0.6),
        "card_type": nullable(["DEBIT", "CREDIT"], 0.6),
        "card_bin": nullable([f"{400000 + 37 * i}" for i in range(400)], 0.6),
        "masked_pan": nullable([f"4{i % 99999:05d}XXXXXX{i % 9973:04d}" for i in range(CUSTOMERS)], 0.6),
        "payer_vpa": nullable([f"user{i}@oksbi" for i in range(CUSTOMERS)], 0.4),
        "instrument_id": _vocab(rng, [f"INS{i:09d}" for i in range(2 * CUSTOMERS)], n),
        "issuer_bank": _vocab(rng, BANKS, n),
        "channel": _vocab(rng, ["POS", "ECOMMERCE", "IN_APP", "QR"], n),
        "entry_mode": _vocab(rng, ["CHIP", "CONTACTLESS", "SWIPE", "CNP", "UPI_INTENT", "UPI_COLLECT"], n),
        "transaction_type": _vocab(rng, ["PURCHASE", "P2P_TRANSFER", "REFUND", "CASH_WITHDRAWAL"], n),
        "merchant_category": nullable(CATEGORIES, 0.1),
        "mcc": nullable(["5411", "5812", "5541", "5732", "4511", "5912", "5651", "4900"], 0.1),
        "city": _vocab(rng, [f"City {i}" for i in range(CITIES)], n),
        "state": _vocab(rng, STATES, n),
        "region": _vocab(rng, REGIONS, n),
        "city_tier": rng.integers(1, 4, n),
        "latitude": rng.uniform(8.0, 34.0, n),
        "longitude": rng.uniform(68.0, 97.0, n),
        "device_id": nullable([f"DEV-{i:010x}" for i in range(CUSTOMERS)], 0.3),
        "terminal_id": nullable([f"TID{i:08d}" for i in range(3 * MERCHANTS)], 0.5),
        "ip_address": nullable([f"49.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(50_000)], 0.5),
        "status": _vocab(rng, ["APPROVED", "DECLINED"], n),
        "decline_reason": nullable(["INSUFFICIENT_FUNDS", "DO_NOT_HONOUR", "INCORRECT_PIN", "EXPIRED"], 0.95),
        "response_code": _vocab(rng, ["00", "51", "05", "55", "54"], n),
        # ~0.5% refunds, each naming an earlier transaction
        "original_transaction_id": FixedStrings(np.roll(ids, 1), rng.random(n) >= 0.005),
    }


def rows_from_columns(columns: dict[str, Any], n: int) -> list[dict[str, Any]]:
    as_lists: dict[str, list[Any]] = {}
    for name, column in columns.items():
        if isinstance(column, Vocab):
            as_lists[name] = [column.values[c] for c in column.codes.tolist()]
        elif isinstance(column, FixedStrings):
            null = np.zeros(n, dtype=bool) if column.null is None else column.null
            as_lists[name] = [None if blank else v.decode("ascii")
                              for v, blank in zip(column.data.tolist(), null.tolist(), strict=True)]
        else:
            as_lists[name] = column.tolist()
    return [dict(zip(as_lists, values, strict=True)) for values in zip(*as_lists.values(), strict=True)]


def best_rate(fn: Callable[[], object], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat
    columns = transaction_columns(n)
    rows = rows_from_columns(columns, n)
    schema, prefix = load_schema("transaction"), single_object_prefix("transaction")

    def fastavro_per_record() -> list[bytes]:
        out = []
        for row in rows:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, row)
            out.append(prefix + buf.getvalue())
        return out

    encoder = BatchEncoder("transaction")
    expected = fastavro_per_record()
    assert encoder.encode(columns, n) == expected, "BatchEncoder disagrees with fastavro"

    def batched(size: int) -> Callable[[], object]:
        starts = range(0, n, size)
        chunks = [({k: _slice(c, i, i + size) for k, c in columns.items()}, min(size, n - i)) for i in starts]
        return lambda: [encoder.encode(chunk, rows_in_chunk) for chunk, rows_in_chunk in chunks]

    print(f"Transaction, {n:,} rows, mean {sum(map(len, expected)) / n:.0f} bytes framed; best of {repeat}")
    results = [
        ("fastavro schemaless_writer, per record", best_rate(fastavro_per_record, n, repeat)),
        (
            "schemas.codec.encode, per record",
            best_rate(lambda: [encode("transaction", r) for r in rows], n, repeat),
        ),
    ]
    for size in (10_000, 50_000, n):
        results.append((f"BatchEncoder, batches of {size:,}", best_rate(batched(size), n, repeat)))
    results.append(
        ("schemas.codec.decode, per record", best_rate(lambda: [decode(b) for b in expected], n, repeat))
    )
    for label, rate in results:
        print(f"  {label:<40} {rate:>12,.0f} records/s")


def _slice(column: Any, start: int, stop: int) -> Any:
    if isinstance(column, Vocab):
        return Vocab(column.codes[start:stop], column.values)
    if isinstance(column, FixedStrings):
        return FixedStrings(column.data[start:stop])
    return column[start:stop]


if __name__ == "__main__":
    main()
