"""A calibration map of a classifier's scores, stored as arrays and applied with numpy.

Stored in the version's metadata under `calibration`:

    {"method": "isotonic", "fitted_on": "holdout", "rows": 4000,
     "classes": {"<class key>": {"x": [...], "y": [...]}, ...}}

Binary models have one entry, the positive class (the model's second class); multiclass
models one per class (one-vs-rest). `x` are increasing score knots and `y` the calibrated
probability at each; between knots the map interpolates linearly and outside them it
clips (np.interp), so the training job fits with scikit-learn and the monitor applies the
map without it: "isotonic" is scikit-learn's X_thresholds_ / y_thresholds_, which
IsotonicRegression(out_of_bounds="clip") applies the same way; "centered_isotonic" (one
knot per isotonic step at its mean score), which versions trained earlier store, is read
too. Multiclass calibrated scores are renormalised to sum to one, as NannyML's CBPE does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.schema import class_key

CALIBRATION_METHODS = ("centered_isotonic", "isotonic")


class CalibrationError(ValueError):
    """A calibration map in metadata that cannot be applied (names what is wrong)."""


@dataclass(frozen=True)
class CalibrationMap:
    classes: tuple[str, ...]  # the model's classes as keys, in output order
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]]  # class key -> (x, y)
    method: str = "isotonic"
    rows: int = 0

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities [n, k] from the model's scores [n, k] (same class order)."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.binary:
            x, y = self.curves[self.classes[1]]
            positive = np.interp(scores[:, 1], x, y)
            return np.column_stack((1.0 - positive, positive))
        calibrated = np.column_stack(
            [np.interp(scores[:, i], *self.curves[key]) for i, key in enumerate(self.classes)]
        )
        total = calibrated.sum(axis=1, keepdims=True)
        # A row every class map sends to 0 keeps its own scores rather than dividing by 0.
        empty = total[:, 0] <= 0.0
        if empty.any():
            calibrated[empty] = scores[empty]
            total[empty] = scores[empty].sum(axis=1, keepdims=True)
        return calibrated / np.where(total > 0.0, total, 1.0)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fitted_on": "holdout",
            "rows": self.rows,
            "classes": {
                key: {"x": x.tolist(), "y": y.tolist()} for key, (x, y) in self.curves.items()
            },
        }

    @classmethod
    def from_metadata(cls, raw: Any, classes: Sequence[Any]) -> CalibrationMap:
        """The map of a version's metadata; CalibrationError names what is malformed."""
        if not isinstance(raw, Mapping):
            raise CalibrationError("calibration must be an object")
        method = raw.get("method")
        if method not in CALIBRATION_METHODS:
            raise CalibrationError(
                f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}"
            )
        keys = tuple(class_key(c) for c in classes)
        if len(keys) < 2:
            raise CalibrationError("calibration needs a classifier with at least two classes")
        needed = keys[1:] if len(keys) == 2 else keys
        curves_raw = raw.get("classes")
        if not isinstance(curves_raw, Mapping):
            raise CalibrationError("calibration.classes must be an object keyed by class")
        curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key in needed:
            curve = curves_raw.get(key)
            if not isinstance(curve, Mapping):
                raise CalibrationError(f"calibration has no curve for class {key!r}")
            try:
                x = np.asarray(curve["x"], dtype=np.float64)
                y = np.asarray(curve["y"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise CalibrationError(
                    f"calibration curve of class {key!r} needs numeric arrays x and y"
                ) from None
            if x.ndim != 1 or x.shape != y.shape or x.size == 0:
                raise CalibrationError(
                    f"calibration curve of class {key!r}: x and y must be non-empty and equally long"
                )
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                raise CalibrationError(f"calibration curve of class {key!r} has non-finite values")
            if np.any(np.diff(x) < 0) or np.any((y < 0) | (y > 1)):
                raise CalibrationError(
                    f"calibration curve of class {key!r}: x must increase and y lie in [0, 1]"
                )
            curves[key] = (x, y)
        return cls(keys, curves, method=str(method), rows=int(raw.get("rows") or 0))
