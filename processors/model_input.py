"""The model's input: numbers a linear fraud model can use, from a transaction's features and record.

One definition shared by the stream processor and `bench/bench_learnability.py`, so the benchmark
measures the model the processor runs.

>>> from processors.features import FEATURE_NAMES
>>> features = dict.fromkeys(FEATURE_NAMES, 0) | {"seconds_since_prev": None, "km_from_prev": None,
...                                              "speed_kmh_from_prev": None, "amount_zscore": 0.0}
>>> record = {"amount_paise": 9_900, "channel": "QR", "entry_mode": "QR_SCAN",
...           "transaction_type": "PURCHASE", "payment_mode": "UPI"}
>>> x = model_input(features, record)
>>> round(x["log_amount"], 4), x["channel=QR"], x["seconds_since_prev_missing"], x["seconds_since_prev"]
(4.6052, 1.0, 1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from processors.features import FEATURE_NAMES

# the record's categorical fields, one-hot encoded (River's linear model treats absent keys as 0)
CATEGORICAL = ("channel", "entry_mode", "transaction_type", "payment_mode")
# heavy-tailed features: on a log scale, or a few extreme values dominate the SGD steps
LOG_SCALED = ("amount_sum_1h_paise", "amount_sum_24h_paise", "km_from_prev", "speed_kmh_from_prev",
              "km_from_home", "seconds_since_prev")


def model_input(features: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, float]:
    """Numbers for the model: the velocity features (booleans as 0/1, a missing 'previous' as 0 with an
    indicator, heavy-tailed ones on a log scale) plus the transaction's own amount and categories."""
    log_amount = math.log1p(record["amount_paise"] / 100)
    x: dict[str, float] = {"log_amount": log_amount,
                           "log_amount_x_zscore": log_amount * max(min(float(features["amount_zscore"]), 10.0), -10.0)}
    for name in CATEGORICAL:
        x[f"{name}={record[name]}"] = 1.0
    for name in FEATURE_NAMES:
        value = features[name]
        if value is None:
            x[name], x[f"{name}_missing"] = 0.0, 1.0
        else:
            x[name] = float(value)
    for name in LOG_SCALED:
        x[name] = math.log1p(max(x[name], 0.0))
    # a linear model needs the thresholds a rule would use, and a few interactions
    x["faster_than_a_plane"] = float((features["speed_kmh_from_prev"] or 0.0) > 900.0)
    x["new_device_far_from_home"] = float(features["is_new_device"]) * x["km_from_home"]
    x["new_payee_amount"] = float(features["is_new_merchant"]) * x["log_amount"]
    x["p2p_new_payee"] = float(features["is_new_merchant"] and record["transaction_type"] == "P2P_TRANSFER")
    return x
