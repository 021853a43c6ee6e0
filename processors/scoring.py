"""The online fraud model and its prequential quality.

`FraudModel` is River's StandardScaler + LogisticRegression (SGD step 0.002, as swept in
bench/bench_learnability.py) over `processors.model_input`: scores before the label is known, `learn`
once it is. River holds the model: the scaler's statistics grow from every scored batch (`observe`,
River's batch formula), the regression learns per label (`learn`, River's `learn_one`); scoring is River's
`predict_proba_one` arithmetic applied to a whole batch of input rows at once with numpy
(`score_rows`; equal to `score`, River's own per-dict call, to rounding), which is what lets one worker
score thousands of transactions a second. `PrequentialAUC` keeps the score histograms of labelled transactions, split by
label, so ROC-AUC and PR-AUC (average precision) of every score given before its label are available at
any time in O(bins), checkpoint with the model, and never need the scores kept.

Bins are on the logit scale (a fraud model's scores crowd near 0); scores within one bin count as tied,
so the AUCs are those of scores rounded to 1/40 of a logit unit (tests/processors/test_scoring.py checks
them against the exact figures).

>>> metric = PrequentialAUC()
>>> for score, y in [(0.9, True), (0.8, False), (0.7, True), (0.1, False)]:
...     metric.update(score, y)
>>> metric.roc_auc(), round(metric.pr_auc(), 4)
(0.75, 0.8333)
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import compose, linear_model, optim, preprocessing

from synfinance.processors.model_input import COLUMNS

MODEL_NAME = "logreg-sgd0.002"
# Everything a checkpoint of our River pipeline holds; a checkpoint naming any other class is refused, so
# a record on the checkpoint topic cannot run code in the processor (as `processors.state` refuses all).
_CHECKPOINT_CLASSES = frozenset((
    ("builtins", "float"), ("collections", "Counter"), ("collections", "OrderedDict"),
    ("collections", "defaultdict"), ("numpy", "dtype"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"), ("river._river_rust.vectordict", "VectorDict"),
    ("river.compose.pipeline", "Pipeline"), ("river.linear_model.log_reg", "LogisticRegression"),
    ("river.optim.initializers", "Zeros"), ("river.optim.losses", "Log"), ("river.optim.schedulers", "Constant"),
    ("river.optim.sgd", "SGD"), ("river.preprocessing.scale", "StandardScaler"),
))


class _CheckpointUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CHECKPOINT_CLASSES:
            raise pickle.UnpicklingError(f"a model checkpoint holds our River pipeline only, not {module}.{name}")
        return super().find_class(module, name)
_LOGIT_RANGE, _BINS = 25.0, 2000


class PrequentialAUC:
    """ROC-AUC and average precision of scores given before their labels (binned)."""

    def __init__(self) -> None:
        self.positives = np.zeros(_BINS, dtype=np.int64)
        self.negatives = np.zeros(_BINS, dtype=np.int64)

    @staticmethod
    def _bin(score: float) -> int:
        p = 1e-12 if score < 1e-12 else 1.0 - 1e-12 if score > 1.0 - 1e-12 else score
        b = int((math.log(p / (1.0 - p)) + _LOGIT_RANGE) / (2 * _LOGIT_RANGE) * _BINS)
        return 0 if b < 0 else _BINS - 1 if b >= _BINS else b

    def update(self, score: float, is_fraud: bool) -> None:
        (self.positives if is_fraud else self.negatives)[self._bin(score)] += 1

    def relabel(self, score: float, was_fraud: bool, is_fraud: bool) -> None:
        """Count a transaction given `score` under its revised label instead of its earlier one."""
        if was_fraud != is_fraud:
            b = self._bin(score)
            (self.positives if was_fraud else self.negatives)[b] -= 1
            (self.positives if is_fraud else self.negatives)[b] += 1

    @property
    def count(self) -> int:
        return int(self.positives.sum() + self.negatives.sum())

    def roc_auc(self) -> float:
        """P(score of a fraud > score of a legit), ties counting half; NaN until both classes seen."""
        pos, neg = self.positives, self.negatives
        p, n = pos.sum(), neg.sum()
        if not p or not n:
            return math.nan
        below = np.cumsum(neg) - neg  # negatives in lower bins
        return float((pos * (below + neg / 2)).sum() / (p * n))

    def pr_auc(self) -> float:
        """Average precision, thresholds at bin edges from the top; NaN until a fraud is seen."""
        pos, neg = self.positives[::-1], self.negatives[::-1]
        if not pos.sum():
            return math.nan
        tp, alerted = np.cumsum(pos), np.cumsum(pos + neg)
        precision = np.divide(tp, alerted, out=np.zeros(len(tp)), where=alerted > 0)
        return float((precision * pos).sum() / pos.sum())


def _as_input(x: Mapping[str, float] | Sequence[float] | np.ndarray) -> dict[str, float]:
    """River's input form of an input dict or a row in `COLUMNS` order."""
    if isinstance(x, Mapping):
        return dict(x)
    return dict(zip(COLUMNS, np.asarray(x, dtype=np.float64).tolist(), strict=True))


class FraudModel:
    """Scores before learning; learns from labels; checkpoints as bytes."""

    def __init__(self) -> None:
        self.pipeline = compose.Pipeline(preprocessing.StandardScaler(),
                                         linear_model.LogisticRegression(optimizer=optim.SGD(0.002)))
        self.quality = PrequentialAUC()
        self.learned = 0

    def score(self, x: Mapping[str, float]) -> float:
        """River's own score of one input dict (the reference for `score_rows`)."""
        return float(self.pipeline.predict_proba_one(_as_input(x)).get(True, 0.0))

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores of input rows (n x len(COLUMNS), `COLUMNS` order): River's StandardScaler transform
        (a feature with variance 0 scales to 0), weights . x + intercept, and River's sigmoid (exactly 0
        or 1 beyond +-30), for all rows at once."""
        scaler, regression = self.pipeline["StandardScaler"], self.pipeline["LogisticRegression"]
        means = np.array([scaler.means.get(c, 0.0) for c in COLUMNS])
        variances = np.array([scaler.vars.get(c, 0.0) for c in COLUMNS])
        weights = regression.weights
        w = np.array([weights.get(c, 0.0) for c in COLUMNS])
        scale = np.divide(1.0, np.sqrt(variances), out=np.zeros_like(variances), where=variances > 0)
        z = ((rows - means) * scale) @ w + regression.intercept
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-z))
        return np.where(z < -30, 0.0, np.where(z > 30, 1.0, p))

    def observe(self, rows: np.ndarray) -> None:
        """Fold a batch of input rows into the scaler's running means and variances with the parallel
        (Chan et al.) update River's `StandardScaler.learn_many` uses: the statistics `learn_one` row by
        row would give, to rounding. The scaler is unsupervised, so it learns from every scored
        transaction, not only the labelled ones, and costs a few numpy calls per batch."""
        n_b = len(rows)
        if not n_b:
            return
        scaler = self.pipeline["StandardScaler"]
        counts, means, variances = scaler.counts, scaler.means, scaler.vars
        for column, mean_b, var_b in zip(COLUMNS, rows.mean(axis=0).tolist(), rows.var(axis=0).tolist(),
                                         strict=True):
            n_a, mean_a, var_a = counts.get(column, 0), means.get(column, 0.0), variances.get(column, 0.0)
            n = n_a + n_b
            delta = mean_b - mean_a
            means[column] = mean_a + delta * n_b / n
            variances[column] = (var_a * n_a + var_b * n_b + delta * delta * n_a * n_b / n) / n
            counts[column] = n

    def learn(self, x: Mapping[str, float] | Sequence[float] | np.ndarray, is_fraud: bool,
              weight: float = 1.0) -> None:
        """Learn one label with the regression (the scaler learns in `observe`); `x` is an input dict or
        a row in `COLUMNS` order; `weight` scales the step."""
        scaled = self.pipeline["StandardScaler"].transform_one(_as_input(x))
        self.pipeline["LogisticRegression"].learn_one(scaled, is_fraud, w=weight)
        self.learned += 1

    def reasons(self, x: Mapping[str, float] | Sequence[float] | np.ndarray, top: int = 3) -> list[str]:
        """The inputs that pushed the score up most (weight x standardised value), strongest first."""
        scaled = self.pipeline["StandardScaler"].transform_one(_as_input(x))
        weights = self.pipeline["LogisticRegression"].weights
        contributions = sorted(((weights.get(k, 0.0) * v, k) for k, v in scaled.items()), reverse=True)
        return [name for c, name in contributions[:top] if c > 0]

    def version(self, worker: str) -> str:
        return f"{MODEL_NAME}/{worker}/{self.learned}"

    def to_bytes(self) -> bytes:
        # pickle is River's own persistence format; read back by an unpickler that knows only its classes
        return pickle.dumps({"pipeline": self.pipeline, "positives": self.quality.positives,
                             "negatives": self.quality.negatives, "learned": self.learned}, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> FraudModel:
        saved: dict[str, Any] = _CheckpointUnpickler(io.BytesIO(data)).load()
        model = cls()
        model.pipeline = saved["pipeline"]
        model.quality.positives, model.quality.negatives = saved["positives"], saved["negatives"]
        model.learned = saved["learned"]
        return model
