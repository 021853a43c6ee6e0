"""Legitimate anomalies: unusual but genuine transactions, labelled with a type and a 0-1 severity.

They are the false-positive pressure a fraud model must cope with, so each mimics a fraud signal:
- temporal: a purchase moved into the small hours (01:00-04:30 IST), like account takeovers;
- geographic: the customer is on a genuine trip to a distant city (a trip is planned around it), like
  cloned cards far from home — but reached by plausible travel;
- amount: 5-20x the customer's usual ticket, like bust-outs and card testing's final purchase;
- behavioural: a big-ticket purchase in a category the customer rarely uses, at a new merchant;
- velocity: a burst of small online purchases within minutes (recharges, in-game items), some declined,
  like card testing — planned as bursts by the scenario engine (`plan_velocity_burst`), VELOCITY_SHARE of
  all anomalous rows.
Row-level kinds are chosen by the rows' own uniforms, so they depend only on (seed, customer).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, HOUR_US, IST_OFFSET_US
from synfinance.producers import events as ev
from synfinance.producers.events import ANOMALY_TYPES, EventColumns

KIND_WEIGHTS = {"behavioural": 0.25, "geographic": 0.25, "temporal": 0.25, "amount": 0.25}  # of row-level ones
VELOCITY_SHARE = 0.15   # of all anomalous rows: the bursts
BURST_MEAN_ROWS = 5.5   # rows per burst (3-8)
# A geographic anomaly needs room for a trip; when the customer is busy travelling around that time it
# becomes an amount anomaly. About 82% find room (measured, seed 42, 400k events), so rows are drawn
# with geographic weight / 0.82 and amount weight reduced by the same mass: the realised mix follows
# KIND_WEIGHTS.
GEO_PLACEMENT = 0.82
_SELECTION = dict(KIND_WEIGHTS)
_SELECTION["geographic"] = KIND_WEIGHTS["geographic"] / GEO_PLACEMENT
_SELECTION["amount"] = KIND_WEIGHTS["amount"] - (_SELECTION["geographic"] - KIND_WEIGHTS["geographic"])
ANOMALY_CODE = {name: code for code, name in enumerate(ANOMALY_TYPES)}
BEHAVIOURAL, GEOGRAPHIC, TEMPORAL, AMOUNT, VELOCITY = (ANOMALY_CODE[k] for k in (
    "behavioural", "geographic", "temporal", "amount", "velocity"))
BIG_TICKET = ("electronics", "jewellery", "travel")


def choose(u_pick: npt.NDArray[np.float64], u_kind: npt.NDArray[np.float64], rate: float,
           purchase: npt.NDArray[np.bool_], purchase_share: float) -> npt.NDArray[np.int64]:
    """Anomaly type code per row, -1 for ordinary rows (a share `rate` of rows is anomalous).

    Behavioural anomalies need a purchase: purchases take them with weight w / purchase_share and the
    other kinds share the rest, so that the overall mix still follows KIND_WEIGHTS.
    """
    weights = np.array([_SELECTION.get(k, 0.0) for k in ANOMALY_TYPES])
    on_purchase = weights.copy()
    on_purchase[BEHAVIOURAL] = min(weights[BEHAVIOURAL] / purchase_share, 1.0)
    others = np.arange(len(weights)) != BEHAVIOURAL
    # kind k (not behavioural): q * x_k + (1 - q) * y_k = w_k with y_k = w_k / (1 - w_b)
    off_purchase = np.where(others, weights / (1.0 - weights[BEHAVIOURAL]), 0.0)
    remainder = weights[others] - (1 - purchase_share) * off_purchase[others]
    on_purchase[others] = np.maximum(remainder / purchase_share, 0.0)
    tables = np.cumsum(np.stack([off_purchase, on_purchase]), axis=1)
    tables /= tables[:, -1:]
    table = tables[purchase.astype(np.int64)]
    kind = np.minimum((table <= u_kind[:, None]).sum(axis=1), len(weights) - 1)
    return np.where(u_pick < rate, kind, -1)


def to_night(times: npt.NDArray[np.int64], u: npt.NDArray[np.float64], block_start: int,
             block_end: int) -> npt.NDArray[np.int64]:
    """Between 01:00 and 04:30 IST of the same day (or the next/previous night if that leaves the block)."""
    local = times + IST_OFFSET_US
    midnight = local - local % DAY_US
    night = (midnight - IST_OFFSET_US + HOUR_US + (u * 3.5 * HOUR_US).astype(np.int64)).astype(np.int64)
    night[night < block_start] += DAY_US
    night[night >= block_end] -= DAY_US
    return night


def night_severity(times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    hour = ((times + IST_OFFSET_US) % DAY_US) / HOUR_US
    return np.clip(0.5 + 0.5 * (1.0 - np.abs(hour - 3.0) / 2.0), 0.0, 1.0)


def amount_multiplier(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 5.0 + 15.0 * u


def label(rows: EventColumns, kind: npt.NDArray[np.int64], severity: npt.NDArray[np.float64]) -> None:
    """Write the anomaly label columns (in place)."""
    rows.anomaly_type = kind.astype(np.int64)
    rows.severity = np.where(kind >= 0, np.round(np.clip(severity, 0.0, 1.0), 4), 0.0)


def is_purchase(rows: EventColumns) -> npt.NDArray[np.bool_]:
    return (rows.transaction_type == ev.PURCHASE) & (rows.merchant >= 0)
