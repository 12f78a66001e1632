"""Estimated ROC AUC, accuracy and F1 from calibrated scores, with a confidence band.

Definitions follow NannyML's CBPE (nannyml/performance_estimation/confidence_based):

- expected confusion matrix: a row predicted j with calibrated probabilities p counts p_k
  as a (fractional) row of true class k; accuracy = trace / rows, F1 of class k =
  2 TP / (2 TP + FP + FN) on these expected counts (binary: the positive class; multiclass:
  the unweighted mean over classes);
- ROC AUC: rows ranked by the model's own score, each counting p as a positive and 1 - p
  as a negative; the area under the resulting expected ROC curve (multiclass: the mean of
  the one-vs-rest areas). Rows in one score bin count as tied (half a pair each).

Confidence band: a parametric bootstrap on the calibrated probabilities. If calibration
holds (no concept drift), each row's true label is a draw from its calibrated
probabilities; the band holds the realized metric of `1 - confidence` of such draws around
the estimate. Drawn per score bin (binomial) and per predicted class (multinomial), which
slightly overstates the spread (conservative). Unlike a sampling error learned on the
reference data, it follows the window's own score distribution, which is what changes
under covariate shift. It does not cover error in the calibration map itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.estimation.accumulator import EstimationAccumulator

DEFAULT_REPLICATES = 200
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float
    upper: float


def roc_auc_from_bins(rows: np.ndarray, positives: np.ndarray) -> Any:
    """Area under the ROC curve of bins ranked by score: positives and negatives (expected
    or drawn) per bin, ties within a bin counted half. NaN when either class is absent.
    Works on [bins] or [replicates, bins]."""
    negatives = rows - positives
    total_pos = positives.sum(axis=-1)
    total_neg = negatives.sum(axis=-1)
    # Negatives ranked below each bin: cumulative over lower bins.
    below = np.cumsum(negatives, axis=-1) - negatives
    pairs = (positives * (below + 0.5 * negatives)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        area = pairs / (total_pos * total_neg)
    return area


def binning_bound(rows: np.ndarray, positives: np.ndarray) -> float:
    """Largest change of the ROC AUC estimate that ordering the rows inside their bins
    could make: pairs within one bin, over all pairs."""
    negatives = rows - positives
    total = positives.sum() * negatives.sum()
    return float((positives * negatives).sum() / total) / 2.0 if total > 0 else 0.0


def classification_metrics(confusion: np.ndarray, *, binary: bool) -> dict[str, Any]:
    """accuracy and f1 (binary, positive = second class) or f1_macro from [predicted, true]
    counts; works on [k, k] or [replicates, k, k]."""
    total = confusion.sum(axis=(-2, -1))
    diagonal = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted = confusion.sum(axis=-1)
    actual = confusion.sum(axis=-2)
    denominator = predicted + actual  # 2 TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(
            denominator > 0, 2.0 * diagonal / np.where(denominator > 0, denominator, 1), 0.0
        )
        accuracy = diagonal.sum(axis=-1) / total
    if binary:
        return {"accuracy": accuracy, "f1": f1[..., 1]}
    return {"accuracy": accuracy, "f1_macro": f1.mean(axis=-1)}


def estimate(
    acc: EstimationAccumulator,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> tuple[dict[str, Estimate], float]:
    """Estimated metrics with their bands, and the ROC AUC binning bound."""
    rng = np.random.default_rng(seed)
    binary = acc.calibration.binary
    expected = acc.expected_confusion()
    point = classification_metrics(expected, binary=binary)
    drawn = classification_metrics(_draw_confusion(expected, rng, replicates), binary=binary)
    out = {name: _band(float(point[name]), drawn[name], confidence) for name in point}
    areas, drawn_areas, bounds = [], [], []
    for row in range(len(acc.scored)):
        rows, positives = acc.histogram(row)
        # Empty bins add nothing to any area: drawing only the occupied ones is the same.
        occupied = rows > 0
        rows, positives = rows[occupied], positives[occupied]
        areas.append(float(roc_auc_from_bins(rows, positives)))
        drawn_areas.append(
            roc_auc_from_bins(rows, _draw_positives(rows, positives, rng, replicates))
        )
        bounds.append(binning_bound(rows, positives))
    name = "roc_auc" if binary else "roc_auc_macro"
    if all(np.isfinite(areas)):
        out[name] = _band(float(np.mean(areas)), _replicate_means(drawn_areas), confidence)
    return out, float(max(bounds)) if bounds else 0.0


def _replicate_means(drawn: list[np.ndarray]) -> np.ndarray:
    """Each replicate's mean over the classes whose drawn area is defined; NaN where none
    is (a draw with no positive row, or no negative one). np.nanmean gives the same but
    warns on every such replicate, which the function's log would carry."""
    stack = np.vstack(drawn)
    defined = np.isfinite(stack)
    counts = defined.sum(axis=0)
    sums = np.where(defined, stack, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _draw_confusion(expected: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Replicates [n, k, k]: per predicted class, its rows' true classes as one multinomial."""
    k = expected.shape[0]
    out = np.zeros((n, k, k), dtype=np.float64)
    for j in range(k):
        rows = expected[j].sum()
        count = round(float(rows))
        if count > 0:
            out[:, j, :] = rng.multinomial(count, expected[j] / rows, size=n)
    return out


def _draw_positives(
    rows: np.ndarray, positives: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    share = np.divide(positives, rows, out=np.zeros_like(positives), where=rows > 0)
    return rng.binomial(rows.astype(np.int64), np.clip(share, 0.0, 1.0), size=(n, rows.size))


def _band(value: float, draws: np.ndarray, confidence: float) -> Estimate:
    """The draws' spread around their own centre, placed around the point estimate."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0 or not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    centre = float(np.mean(finite))
    return Estimate(
        value, max(value - (centre - float(low)), 0.0), min(value + (float(high) - centre), 1.0)
    )
