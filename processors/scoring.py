"""The online fraud model and its prequential quality.

`FraudModel` is River's StandardScaler + LogisticRegression (SGD step 0.002, as swept in
bench/bench_learnability.py) over `processors.model_input`: `score(x)` before the label is known,
`learn(x, y)` once it is. `PrequentialAUC` keeps the score histograms of labelled transactions, split by
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

import math
import pickle
from typing import Any

import numpy as np
from river import compose, linear_model, optim, preprocessing

MODEL_NAME = "logreg-sgd0.002"
_LOGIT_RANGE, _BINS = 25.0, 2000


class PrequentialAUC:
    """ROC-AUC and average precision of scores given before their labels (binned)."""

    def __init__(self) -> None:
        self.positives = np.zeros(_BINS, dtype=np.int64)
        self.negatives = np.zeros(_BINS, dtype=np.int64)

    @staticmethod
    def _bin(score: float) -> int:
        p = min(max(score, 1e-12), 1.0 - 1e-12)
        z = math.log(p / (1.0 - p))
        return min(max(int((z + _LOGIT_RANGE) / (2 * _LOGIT_RANGE) * _BINS), 0), _BINS - 1)

    def update(self, score: float, is_fraud: bool) -> None:
        (self.positives if is_fraud else self.negatives)[self._bin(score)] += 1

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


class FraudModel:
    """Scores before learning; learns from labels; checkpoints as bytes."""

    def __init__(self) -> None:
        self.pipeline = compose.Pipeline(preprocessing.StandardScaler(),
                                         linear_model.LogisticRegression(optimizer=optim.SGD(0.002)))
        self.quality = PrequentialAUC()
        self.learned = 0

    def score(self, x: dict[str, float]) -> float:
        return float(self.pipeline.predict_proba_one(x).get(True, 0.0))

    def learn(self, x: dict[str, float], is_fraud: bool) -> None:
        self.pipeline.learn_one(x, is_fraud)
        self.learned += 1

    def reasons(self, x: dict[str, float], top: int = 3) -> list[str]:
        """The inputs that pushed the score up most (weight x standardised value), strongest first."""
        scaled = self.pipeline["StandardScaler"].transform_one(x)
        weights = self.pipeline["LogisticRegression"].weights
        contributions = sorted(((weights.get(k, 0.0) * v, k) for k, v in scaled.items()), reverse=True)
        return [name for c, name in contributions[:top] if c > 0]

    def version(self, worker: str) -> str:
        return f"{MODEL_NAME}/{worker}/{self.learned}"

    def to_bytes(self) -> bytes:
        # pickle is River's own persistence format; the checkpoint topic is the processor's private state
        return pickle.dumps({"pipeline": self.pipeline, "positives": self.quality.positives,
                             "negatives": self.quality.negatives, "learned": self.learned}, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> FraudModel:
        saved: dict[str, Any] = pickle.loads(data)
        model = cls()
        model.pipeline = saved["pipeline"]
        model.quality.positives, model.quality.negatives = saved["positives"], saved["negatives"]
        model.learned = saved["learned"]
        return model
