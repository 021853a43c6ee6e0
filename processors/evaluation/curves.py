"""ROC and precision-recall curves and their areas, from scores and truth, in numpy (no scikit-learn).

Both walk the distinct scores from the highest down; tied scores move together (one curve point per distinct
score), so the results equal scikit-learn's `roc_auc_score` (the Mann-Whitney statistic with ties counted as
half) and `average_precision_score` (AP = sum over thresholds of (R_k - R_{k-1}) * P_k, no interpolation).

>>> scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1]); truth = np.array([True, False, True, False, False])
>>> round(roc_auc(scores, truth), 4), round(average_precision(scores, truth), 4)
(0.9167, 0.8333)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["average_precision", "pr_curve", "roc_auc", "roc_curve", "thinned"]

Floats = npt.NDArray[np.float64]


def _cumulative(scores: Floats, truth: npt.NDArray[np.bool_], ranked: bool) -> tuple[Floats, Floats, Floats]:
    """True and false positives at each distinct score (descending), and those scores. `ranked`: the scores
    are in descending order already (a caller slicing one sorted table many times sorts once)."""
    if ranked:
        positive = truth
    else:
        order = np.argsort(-scores)  # ties need no stable order: they move together
        scores, positive = scores[order], truth[order]
    ranked_scores = scores
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]
    tps = np.cumsum(positive)[last_of_tie].astype(np.float64)
    fps = (last_of_tie + 1) - tps
    return tps, fps, ranked_scores[last_of_tie]


def roc_curve(scores: Floats, truth: npt.NDArray[np.bool_], ranked: bool = False) -> tuple[Floats, Floats] | None:
    """(false-positive rates, true-positive rates) from (0, 0) to (1, 1); None without both classes."""
    positives = int(truth.sum())
    if len(scores) == 0 or positives in (0, len(truth)):
        return None
    tps, fps, _ = _cumulative(scores, truth, ranked)
    return np.r_[0.0, fps / (len(truth) - positives)], np.r_[0.0, tps / positives]


def roc_auc(scores: Floats, truth: npt.NDArray[np.bool_], ranked: bool = False) -> float | None:
    """Area under the ROC curve (trapezoids between distinct scores); None without both classes."""
    curve = roc_curve(scores, truth, ranked)
    if curve is None:
        return None
    fpr, tpr = curve  # trapezoids written out: np.trapezoid needs numpy 2, np.trapz is gone from it
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def pr_curve(scores: Floats, truth: npt.NDArray[np.bool_],
             ranked: bool = False) -> tuple[Floats, Floats, Floats] | None:
    """(recall, precision, threshold) at each distinct score, highest first; None without positives."""
    if len(scores) == 0 or not truth.any():
        return None
    tps, fps, thresholds = _cumulative(scores, truth, ranked)
    return tps / truth.sum(), tps / (tps + fps), thresholds


def average_precision(scores: Floats, truth: npt.NDArray[np.bool_], ranked: bool = False) -> float | None:
    """PR-AUC as average precision; None without positives."""
    curve = pr_curve(scores, truth, ranked)
    if curve is None:
        return None
    recall, precision, _ = curve
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def thinned(x: Floats, y: Floats, points: int = 200) -> tuple[list[float], list[float]]:
    """At most `points` points of a curve (its ends kept), as lists for JSON and plotting."""
    if len(x) <= points:
        return x.tolist(), y.tolist()
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(np.int64))
    return x[keep].tolist(), y[keep].tolist()
