"""The calibration map of a classifier's holdout scores, for estimating performance
without labels (modelops.estimation).

Fitted on the holdout rows (never on training rows, where the model is overconfident): the
positive class for a binary model, every class one-vs-rest for a multiclass one, as
NannyML's CBPE does. The map is scikit-learn's isotonic regression of "is class k" on the
model's score of class k, stored as its thresholds (X_thresholds_, y_thresholds_), which the
monitor applies with np.interp exactly as IsotonicRegression(out_of_bounds="clip") predicts.
A centred variant (each flat step replaced by one knot at its mean score) was the default
before: benchmarks/bench_cbpe.py found it less accurate than plain isotonic regression on
the churn data and no better elsewhere (docs/PERFORMANCE.md, "Estimated performance").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from modelops.estimation.calibration import CalibrationMap
from modelops.schema import class_key


def isotonic_knots(scores: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (x increasing, y in [0, 1]) of the isotonic fit of hits on scores."""
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    fitted.fit(np.asarray(scores, dtype=np.float64), np.asarray(hits, dtype=np.float64))
    return (
        np.asarray(fitted.X_thresholds_, dtype=np.float64),
        np.asarray(fitted.y_thresholds_, dtype=np.float64),
    )


def fit_calibration(
    probabilities: np.ndarray, y_true: np.ndarray, classes: Sequence[Any]
) -> CalibrationMap:
    """Per class key (binary: the positive class) the map of score -> P(class)."""
    keys = tuple(class_key(c) for c in classes)
    scores = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray([class_key(v) for v in np.asarray(y_true).tolist()], dtype=object)
    fitted = range(1, 2) if len(keys) == 2 else range(len(keys))
    curves = {
        keys[i]: isotonic_knots(scores[:, i], (truth == keys[i]).astype(np.float64)) for i in fitted
    }
    return CalibrationMap(keys, curves, method="isotonic", rows=int(scores.shape[0]))
