"""What the monitor keeps of a window's scores for CBPE: small, exact to merge.

For every captured output whose label and probabilities are usable, the calibrated
probabilities are computed at once and only two summaries are kept:

- the expected confusion matrix: `confusion[j, k]` = sum over rows predicted j of the
  calibrated probability of class k (its row sums are the predicted counts);
- per scored class (binary: the positive class; multiclass: each class, one-vs-rest), a
  histogram of the model's own (uncalibrated) score on SCORE_BINS equal bins of [0, 1]:
  rows per bin and expected positives per bin (sum of calibrated probabilities).

Sums of probabilities are kept in fixed point (units of 2**-32, int64), so adding batches
and merging workers are integer additions: the merged state is bit-for-bit the state of a
single pass, in any order. The cost is a rounding of at most 2**-33 per row. Rows of a
bin count as tied when ranked for ROC AUC; `cbpe.binning_bound` bounds what that changes.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelops.capture import OutputColumns
from modelops.estimation.calibration import CalibrationError, CalibrationMap
from modelops.schema import ModelSchema, Task, class_key

SCORE_BINS = 2000
FIXED_POINT = float(2**32)
# Batches are summed as float64 bin weights before the int64 add: below 2**20 rows a sum of
# 2**32-scaled values stays under 2**53, where float64 still counts integers exactly.
_CHUNK = 1 << 20


class EstimationAccumulator:
    def __init__(
        self,
        calibration: CalibrationMap,
        *,
        classes: Sequence[Any] | None = None,
        bins: int = SCORE_BINS,
    ) -> None:
        self.calibration = calibration
        self.classes = calibration.classes
        k = len(self.classes)
        self.bins = bins
        self.scored = (1,) if calibration.binary else tuple(range(k))
        self.rows = 0  # rows estimated from
        self.unscored = 0  # rows without a usable label or probabilities
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.bin_rows = np.zeros((len(self.scored), bins), dtype=np.int64)
        self.bin_positives = np.zeros((len(self.scored), bins), dtype=np.int64)
        # A label is looked up as sent (JSON: 1 or "yes") or as its key ("1"): one dict hit.
        self._index: dict[Any, int] = {key: i for i, key in enumerate(self.classes)}
        for i, raw in enumerate(classes or ()):
            if raw.__class__ is not bool:
                self._index.setdefault(raw, i)
        self._keys = list(self.classes)

    # ------------------------------------------------------------------ feeding
    def add_outputs(
        self, outputs: Sequence[dict[str, Any]], *, labels: Sequence[Any] | None = None
    ) -> None:
        """Add captured outputs ({"label", "probabilities": {class key: p}}); `labels`, when
        the caller has them, are every output's "label", in order."""
        if not outputs:
            return
        predicted, scores = self._parse(outputs, labels)
        usable = (predicted >= 0) & np.all(np.isfinite(scores), axis=1)
        usable &= np.all((scores >= 0.0) & (scores <= 1.0), axis=1)
        self.unscored += int(usable.size - usable.sum())
        if usable.all():
            self.add(predicted, scores)
        elif usable.any():
            self.add(predicted[usable], scores[usable])

    def add(self, predicted: np.ndarray, scores: np.ndarray) -> None:
        """Add rows: predicted class indices [n] and the model's scores [n, k] in [0, 1]."""
        for start in range(0, len(predicted), _CHUNK):
            self._add(predicted[start : start + _CHUNK], scores[start : start + _CHUNK])

    def _add(self, predicted: np.ndarray, scores: np.ndarray) -> None:
        self.rows += int(predicted.size)
        fixed = np.rint(self.calibration.apply(scores) * FIXED_POINT).astype(np.int64)
        for j in range(len(self.classes)):
            chosen = predicted == j
            if chosen.any():
                self.confusion[j] += fixed[chosen].sum(axis=0)
        for row, c in enumerate(self.scored):
            where = np.minimum((scores[:, c] * self.bins).astype(np.int64), self.bins - 1)
            self.bin_rows[row] += np.bincount(where, minlength=self.bins)
            weights = np.bincount(where, weights=fixed[:, c], minlength=self.bins)
            self.bin_positives[row] += weights.astype(np.int64)

    def merge(self, other: EstimationAccumulator) -> None:
        """Add another worker's state for the same version (integer sums: exact)."""
        self.rows += other.rows
        self.unscored += other.unscored
        self.confusion += other.confusion
        self.bin_rows += other.bin_rows
        self.bin_positives += other.bin_positives

    def _parse(
        self, outputs: Sequence[dict[str, Any]], labels: Sequence[Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        index, keys = self._index, self._keys
        # One flat C-level pass per class needed (binary: the positive class only), several
        # times faster than a row of k per output.
        needed = keys[1:] if len(keys) == 2 else keys
        try:
            if outputs.__class__ is OutputColumns:  # format 2: the columns as captured
                nested = outputs.nested
                columns = [
                    np.array(nested("probabilities", key), dtype=np.float64) for key in needed
                ]
            else:
                probabilities = list(map(_PROBABILITIES, outputs))
                columns = [
                    np.array(list(map(operator.itemgetter(key), probabilities)), dtype=np.float64)
                    for key in needed
                ]
            scores = np.column_stack(columns)
        except (KeyError, TypeError, ValueError):
            scores = np.array([_row_scores(o, needed) for o in outputs], dtype=np.float64)
        if len(keys) == 2:
            scores = np.column_stack((1.0 - scores[:, 0], scores[:, 0]))
        try:
            raw = labels if labels is not None else list(map(_LABEL, outputs))
            codes = list(map(index.get, raw, itertools.repeat(-1, len(raw))))
        except (KeyError, TypeError):  # a missing or unhashable label
            codes = [index.get(_label_key(o), -1) for o in outputs]
        predicted = np.array(codes, dtype=np.int64)
        return predicted, scores

    # ------------------------------------------------------------------ reading
    def expected_confusion(self) -> np.ndarray:
        """[predicted, true] expected counts (float)."""
        return self.confusion / FIXED_POINT

    def histogram(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, expected positives) per score bin of the `row`-th scored class."""
        return self.bin_rows[row].astype(np.float64), self.bin_positives[row] / FIXED_POINT


_LABEL = operator.itemgetter("label")
_PROBABILITIES = operator.itemgetter("probabilities")


def _label_key(output: Any) -> Any:
    label = output.get("label") if isinstance(output, dict) else None
    return class_key(label) if label.__class__ in (str, int, float) else None


def _row_scores(output: Any, keys: Sequence[str]) -> list[float]:
    """One output's scores; NaN where they are missing or not numbers (the row is skipped)."""
    probabilities = output.get("probabilities") if isinstance(output, dict) else None
    if not isinstance(probabilities, dict):
        return [float("nan")] * len(keys)
    row = []
    for key in keys:
        value = probabilities.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row.append(float(value))
        else:
            row.append(float("nan"))
    return row


def for_version(
    version: int, metadata: Mapping[str, Any], schema: ModelSchema
) -> tuple[EstimationAccumulator | None, str]:
    """The accumulator of a version's window, or None and why no estimate can be made."""
    if schema.task is Task.REGRESSION:
        return None, "no label-free estimate is made for regression"
    raw = metadata.get("calibration")
    if raw is None:
        return None, (
            f"version {version} has no calibration map (trained before estimation without "
            "labels was added): no estimate; retraining adds one"
        )
    try:
        calibration = CalibrationMap.from_metadata(raw, schema.classes or ())
    except CalibrationError as exc:
        return None, f"the calibration map of version {version} cannot be used ({exc}): no estimate"
    return EstimationAccumulator(calibration, classes=schema.classes), ""
