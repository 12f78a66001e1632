"""The calibration map of a classifier's holdout scores, for estimating performance
without labels (modelops.estimation).

Fitted on the holdout rows (never on training rows, where the model is overconfident): the
positive class for a binary model, every class one-vs-rest for a multiclass one, as
NannyML's CBPE does. The map is centred isotonic regression (Oron & Flournoy, 2017): the
isotonic fit of "is class k" on the model's score of class k, with each of its flat steps
replaced by one knot at the step's mean score and straight lines between knots. Plain
isotonic regression is flat within a step, which throws away the model's ranking inside it;
the centred map keeps it and is still monotone and calibrated at every knot. That this makes
the estimate more accurate is NOT shown: benchmarks/bench_cbpe.py found it as accurate as
plain isotonic with a 2,000-row holdout and less accurate with a 400-row one
(docs/PERFORMANCE.md, "Estimated performance").
Stored as plain arrays that the monitor applies with np.interp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from modelops.estimation.calibration import CalibrationMap
from modelops.schema import class_key


def centered_isotonic(scores: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (x increasing, y in [0, 1]) of the centred isotonic fit of hits on scores."""
    order = np.argsort(scores, kind="mergesort")
    x = np.asarray(scores, dtype=np.float64)[order]
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(x, np.asarray(hits)[order])
    starts = np.concatenate(([True], np.diff(fitted) != 0))
    block = np.cumsum(starts) - 1
    knots = np.bincount(block, weights=x) / np.bincount(block)
    return knots, np.asarray(fitted[starts], dtype=np.float64)


def fit_calibration(
    probabilities: np.ndarray, y_true: np.ndarray, classes: Sequence[Any]
) -> CalibrationMap:
    """Per class key (binary: the positive class) the map of score -> P(class)."""
    keys = tuple(class_key(c) for c in classes)
    scores = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray([class_key(v) for v in np.asarray(y_true).tolist()], dtype=object)
    fitted = range(1, 2) if len(keys) == 2 else range(len(keys))
    curves = {
        keys[i]: centered_isotonic(scores[:, i], (truth == keys[i]).astype(np.float64))
        for i in fitted
    }
    return CalibrationMap(keys, curves, method="centered_isotonic", rows=int(scores.shape[0]))
