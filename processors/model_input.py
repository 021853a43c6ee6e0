"""The model's input: numbers a linear fraud model can use, from a transaction's features and record.

One definition shared by the stream processor and `bench/bench_learnability.py`, so the benchmark
measures the model the processor runs.

Every input is present for every transaction, in the fixed order `COLUMNS`: River's StandardScaler
only learns the keys present in a sample, so a one-hot key that appeared only when set would always
have variance 0 and be scaled to 0 — a category the model could never use. The fixed order also lets
the processor keep inputs as float64 rows and score a batch of them with one matrix product.

>>> from synfinance.processors.features import FEATURE_NAMES
>>> features = dict.fromkeys(FEATURE_NAMES, 0) | {"seconds_since_prev": None, "km_from_prev": None,
...                                              "speed_kmh_from_prev": None, "amount_zscore": 0.0}
>>> record = {"amount_paise": 9_900, "channel": "QR", "entry_mode": "QR_SCAN",
...           "transaction_type": "PURCHASE", "payment_mode": "UPI"}
>>> x = model_input(features, record)
>>> round(x["log_amount"], 4), x["channel=QR"], x["channel=POS"], x["seconds_since_prev_missing"]
(4.6052, 1.0, 0.0, 1.0)
>>> len(x) == len(COLUMNS) and list(x) == list(COLUMNS)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from synfinance.processors.features import FEATURE_NAMES
from synfinance.schemas.codec import load_raw_schema

# the record's categorical fields, one-hot encoded over their Avro enum symbols
CATEGORICAL = ("channel", "entry_mode", "transaction_type", "payment_mode")
# heavy-tailed features: on a log scale, or a few extreme values dominate the SGD steps
LOG_SCALED = frozenset(("amount_sum_1h_paise", "amount_sum_24h_paise", "km_from_prev", "speed_kmh_from_prev",
                        "km_from_home", "seconds_since_prev"))
# the features that are None when there is no previous transaction
OPTIONAL = ("seconds_since_prev", "km_from_prev", "speed_kmh_from_prev")
INTERACTIONS = ("faster_than_a_plane", "new_device_far_from_home", "new_payee_amount", "p2p_new_payee")


def _symbols() -> dict[str, tuple[str, ...]]:
    fields = {f["name"]: f["type"] for f in load_raw_schema("transaction")["fields"]}
    return {name: tuple(fields[name]["symbols"]) for name in CATEGORICAL}


SYMBOLS = _symbols()
ONE_HOT = tuple(f"{name}={symbol}" for name in CATEGORICAL for symbol in SYMBOLS[name])
PLAIN = tuple(name for name in FEATURE_NAMES if name not in LOG_SCALED and name not in OPTIONAL)
LOGGED = tuple(name for name in FEATURE_NAMES if name in LOG_SCALED and name not in OPTIONAL)
COLUMNS: tuple[str, ...] = ("log_amount", "log_amount_x_zscore", *PLAIN, *LOGGED, *OPTIONAL,
                            *(f"{name}_missing" for name in OPTIONAL), *ONE_HOT, *INTERACTIONS)
_plain, _logged, _optional = itemgetter(*PLAIN), itemgetter(*LOGGED), itemgetter(*OPTIONAL)
_HOT = {name: {symbol: tuple(1.0 if j == i else 0.0 for j in range(len(SYMBOLS[name])))
               for i, symbol in enumerate(SYMBOLS[name])} for name in CATEGORICAL}
_KM_FROM_HOME = COLUMNS.index("km_from_home")


def model_row(features: Mapping[str, Any], record: Mapping[str, Any]) -> list[float]:
    """The model input as floats in `COLUMNS` order: the velocity features (booleans as 0/1, a missing
    'previous' as 0 with an indicator, heavy-tailed ones on a log scale), the transaction's own amount
    and categories, and a few interactions."""
    log_amount = math.log1p(record["amount_paise"] / 100)
    z = features["amount_zscore"]
    row = [log_amount, log_amount * (10.0 if z > 10.0 else -10.0 if z < -10.0 else float(z))]
    row += map(float, _plain(features))
    row += [math.log1p(v) if v > 0 else 0.0 for v in _logged(features)]
    optional = _optional(features)
    row += [math.log1p(v) if v is not None and v > 0 else 0.0 for v in optional]
    row += [1.0 if v is None else 0.0 for v in optional]
    for name in CATEGORICAL:
        row += _HOT[name][record[name]]
    # a linear model needs the thresholds a rule would use, and a few interactions
    new_payee = features["is_new_merchant"]
    speed = features["speed_kmh_from_prev"]
    row += (1.0 if speed is not None and speed > 900.0 else 0.0,
            row[_KM_FROM_HOME] if features["is_new_device"] else 0.0,
            log_amount if new_payee else 0.0,
            1.0 if new_payee and record["transaction_type"] == "P2P_TRANSFER" else 0.0)
    return row


def model_input(features: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, float]:
    """`model_row` keyed by `COLUMNS` (River's input form)."""
    return dict(zip(COLUMNS, model_row(features, record), strict=True))
