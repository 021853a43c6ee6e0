"""The leak audit's measures (SPEC §4 "No artefacts", §10): models, per-field scores, label timing.

- `fit_and_score`: scikit-learn's HistGradientBoostingClassifier trained on the first rows, scoring the
  rest (imported here, not at module level: `bench` is an optional extra, and other benches import
  the metrics below without it);
- `alerts`: ROC-AUC, PR-AUC, precision at the top 1% of scores, per fraud type, and the legitimate
  anomalies' false-positive rate at that threshold;
- `field_leaks`: per raw field, how well its value, its presence and its shape alone rank the test rows;
- `label_timing`: is a transaction still unlabelled at some age more likely fraud than the base rate?

>>> y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
>>> roc_auc(y, s), round(average_precision(y, s), 4)
(0.75, 0.8333)
>>> separation(np.array([0, 1]), np.array([1.0, 0.0]))
1.0
>>> within_strata_roc_auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.audit_dataset import AuditData
from bench.audit_features import Features, codes, recode, shape

HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
NEGATIVE_SAMPLE = 0.25  # share of the legitimate training rows the gradient-boosted models fit on
TIMING_AGES = (("1 h", HOUR_US), ("6 h", 6 * HOUR_US), ("24 h", DAY_US), ("7 d", 7 * DAY_US))


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC with tied scores given their average rank (NaN when one class is absent)."""
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return float("nan")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="stable")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def within_strata_roc_auc(y: np.ndarray, s: np.ndarray, strata: np.ndarray) -> float:
    """ROC-AUC over the (fraud, legitimate) pairs of the same stratum only: how well `s` ranks the classes
    apart among rows alike in what `strata` says (pairs weighted equally across strata)."""
    total = weight = 0.0
    for stratum in np.unique(strata):
        rows = strata == stratum
        positives = int(y[rows].sum())
        pairs = positives * (int(rows.sum()) - positives)
        if pairs:
            total += roc_auc(y[rows], s[rows]) * pairs
            weight += pairs
    return total / weight if weight else float("nan")


def separation(y: np.ndarray, s: np.ndarray) -> float:
    """max(AUC, 1 - AUC): how well `s` ranks the classes apart, whichever way round."""
    auc = roc_auc(y, s)
    return max(auc, 1.0 - auc)


def fit_and_score(features: Features, y: np.ndarray, train: slice, test: slice,
                  legit_share: float = NEGATIVE_SAMPLE) -> npt.NDArray[np.float64]:
    """Fraud probability of every test row from a gradient-boosted model fitted on the training rows:
    every fraud and a seeded `legit_share` of the legitimate rows (weighted back up), the usual negative
    down-sampling of fraud modelling, which keeps the fit within the bench's time budget."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    x = features.matrix()
    x_train, y_train = x[train], y[train]
    # a column constant (or empty) on the training rows can teach nothing, and sklearn cannot bin an empty one
    lo, hi = np.nanmin(x_train, axis=0, initial=np.inf), np.nanmax(x_train, axis=0, initial=-np.inf)
    usable = (hi > lo) | (np.isnan(x_train).any(axis=0) & (hi >= lo))
    keep = (y_train == 1) | (np.random.default_rng(0).random(len(y_train)) < legit_share)
    model = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, max_leaf_nodes=31, l2_regularization=1.0,
        categorical_features=np.array(features.categorical)[usable], early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=15, scoring="loss", random_state=0)
    # one thread: on a shared 2-core machine OpenMP's second thread mostly spin-waits (measured: 2 threads took
    # 5x the CPU time and 4x the wall time of one while other processes ran)
    with threadpool_limits(1):
        model.fit(x_train[keep][:, usable], y_train[keep],
                  sample_weight=np.where(y_train[keep] == 1, 1.0, 1 / legit_share))
        return model.predict_proba(x[test][:, usable])[:, 1]


@dataclass(frozen=True)
class TypeResult:
    fraud_type: str
    frauds: int
    roc_auc: float  # this type's frauds vs every legitimate test row
    recall: float  # at the top-1% threshold


@dataclass(frozen=True)
class AlertResult:
    roc_auc: float
    pr_auc: float
    threshold: float
    precision_top1: float
    recall_top1: float
    anomaly_fpr: float  # legitimate anomalies scored above the threshold
    normal_fpr: float  # other legitimate rows scored above it
    anomalies: int
    by_type: list[TypeResult]


def alerts(scores: np.ndarray, y: np.ndarray, fraud_type: np.ndarray, is_anomaly: np.ndarray,
           alert_share: float = 0.01) -> AlertResult:
    """How `scores` rank the rows, and what an alert on the top `alert_share` of them catches."""
    threshold = float(np.quantile(scores, 1.0 - alert_share))
    alerted = scores >= threshold
    legit = y == 0
    anomaly = legit & is_anomaly
    by_type = []
    for name in sorted({t for t in fraud_type[y == 1].tolist() if t is not None}):
        mine = (y == 1) & (fraud_type == name)
        rows = mine | legit
        by_type.append(TypeResult(name, int(mine.sum()), roc_auc(mine[rows].astype(np.int8), scores[rows]),
                                  float(alerted[mine].mean())))
    return AlertResult(
        roc_auc=roc_auc(y, scores), pr_auc=average_precision(y, scores), threshold=threshold,
        precision_top1=float(y[alerted].mean()), recall_top1=float(alerted[y == 1].mean()),
        anomaly_fpr=float(alerted[anomaly].mean()) if anomaly.any() else float("nan"),
        normal_fpr=float(alerted[legit & ~is_anomaly].mean()), anomalies=int(anomaly.sum()),
        by_type=sorted(by_type, key=lambda t: -t.roc_auc))


def _target_rate(value_codes: npt.NDArray[np.int64], y: np.ndarray, train: slice) -> npt.NDArray[np.float64]:
    """Each row's value -> the fraud rate of that value on the training rows (unseen: the base rate)."""
    size = int(value_codes.max()) + 1
    count = np.bincount(value_codes[train], minlength=size)
    frauds = np.bincount(value_codes[train], weights=y[train], minlength=size)
    rate = np.where(count > 0, frauds / np.maximum(count, 1), float(y[train].mean()))
    return rate[value_codes]


@dataclass(frozen=True)
class FieldLeak:
    field: str
    nulls: float  # share of rows where the field is null
    distinct: int
    value: float  # separation on the test rows of the value (numbers as they are, else the train fraud rate)
    presence: float
    shape: float

    @property
    def worst(self) -> float:
        return max(self.value, self.presence, self.shape)


def field_leaks(data: AuditData, train: slice, test: slice) -> list[FieldLeak]:
    """Every Transaction field alone: its value, its presence (null or not) and its shape string."""
    y, out = data.y, []
    for name in data.fields:
        column = data.columns[name]
        if name in data.numeric:
            missing = np.isnan(column)
            value = np.where(missing, np.nanmin(column) - 1.0 if (~missing).any() else 0.0, column)
            distinct_values, value_codes = np.unique(column, return_inverse=True)
            as_text = int if name in data.integers else float
            distinct: list[object] = [None if np.isnan(v) else as_text(v) for v in distinct_values.tolist()]
            value_codes = value_codes.reshape(-1)
        else:
            value_codes, distinct = codes(column.tolist())
            missing = np.array([v is None for v in distinct])[value_codes]
            value = _target_rate(value_codes, y, train)
        shape_codes, _ = recode(value_codes, [shape(v) for v in distinct])
        out.append(FieldLeak(
            field=name, nulls=float(missing.mean()), distinct=len(distinct), value=separation(y[test], value[test]),
            presence=separation(y[test], missing[test].astype(np.float64)),
            shape=separation(y[test], _target_rate(shape_codes, y, train)[test])))
    return out


@dataclass(frozen=True)
class TimingRow:
    age: str
    eligible: int  # transactions at least this old by the dataset's last event time
    unlabelled: int  # of them, still without a first label at that age
    base_rate: float  # fraud share (true label) among the eligible
    unlabelled_rate: float  # fraud share among the unlabelled

    @property
    def ratio(self) -> float:
        return self.unlabelled_rate / self.base_rate if self.unlabelled and self.base_rate else float("nan")


def label_timing(data: AuditData) -> list[TimingRow]:
    """For each age: the fraud share of transactions whose first label came later than that age."""
    end = int(data.time_us.max())
    first = np.where(data.first_label_us < 0, np.iinfo(np.int64).max, data.first_label_us)
    rows = []
    for name, age in TIMING_AGES:
        eligible = data.time_us + age <= end
        late = eligible & (first > data.time_us + age)
        rows.append(TimingRow(name, int(eligible.sum()), int(late.sum()),
                              float(data.y[eligible].mean()) if eligible.any() else float("nan"),
                              float(data.y[late].mean()) if late.any() else float("nan")))
    return rows
