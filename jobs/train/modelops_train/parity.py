"""The parity gate: the exported ONNX model must predict what scikit-learn predicts.

Compared on the whole holdout plus synthetic rows that serving will meet but training data
may not show: each feature missing in turn, every feature missing, and unseen categories.
Labels must be identical; probabilities (or regression values) within `tolerance`
(absolute, relative for values larger than 1 in magnitude: float32 carries ~7 digits).
The ONNX side runs through modelops.inference.OnnxModel, exactly as serving runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from modelops.inference import OnnxModel
from modelops.schema import MISSING_CATEGORY, FeatureKind, ModelSchema
from modelops_train.errors import ParityError

DEFAULT_TOLERANCE = 1e-4
UNSEEN_CATEGORY = "__unseen_category_for_parity__"
# Holdout rows the synthetic variations are made from.
SYNTHETIC_BASE_ROWS = 20


@dataclass(frozen=True)
class ParityReport:
    rows: int  # holdout rows compared
    synthetic_rows: int
    max_abs_diff: float
    rows_over_tolerance: int
    label_mismatches: int
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.rows_over_tolerance == 0 and self.label_mismatches == 0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "synthetic_rows": self.synthetic_rows,
            "max_abs_diff": self.max_abs_diff,
            "rows_over_tolerance": self.rows_over_tolerance,
            "label_mismatches": self.label_mismatches,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


def synthetic_rows(base: pd.DataFrame, schema: ModelSchema) -> pd.DataFrame:
    """Variations of `base` rows: each feature missing, all missing, unseen categories."""
    base = base.head(SYNTHETIC_BASE_ROWS).reset_index(drop=True)
    variants = []
    for spec in schema.features:
        variant = base.copy()
        variant[spec.name] = (
            np.float32(np.nan) if spec.kind is FeatureKind.NUMERIC else MISSING_CATEGORY
        )
        variants.append(variant)
        if spec.kind is FeatureKind.CATEGORICAL:
            unseen = base.copy()
            unseen[spec.name] = UNSEEN_CATEGORY
            variants.append(unseen)
    nothing = base.head(1).copy()
    for spec in schema.features:
        nothing[spec.name] = (
            np.float32(np.nan) if spec.kind is FeatureKind.NUMERIC else MISSING_CATEGORY
        )
    variants.append(nothing)
    out = pd.concat(variants, ignore_index=True)
    for spec in schema.features:
        if spec.kind is FeatureKind.NUMERIC:
            out[spec.name] = out[spec.name].astype(np.float32)
    return out


def check_parity(
    pipeline: Pipeline,
    onnx_model: OnnxModel,
    holdout: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ParityReport:
    """Compare; raise ParityError (nothing is published then) saying how far apart they are."""
    schema = onnx_model.schema
    extra = synthetic_rows(holdout, schema)
    frame = pd.concat([holdout.reset_index(drop=True), extra], ignore_index=True)
    columns = {name: frame[name].to_numpy() for name in schema.feature_names}
    onnx_out = onnx_model.predict_columns(columns)
    if schema.task.is_classification:
        expected = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        got = np.asarray(onnx_out.probabilities, dtype=np.float64)
        sk_labels = np.asarray([str(v) for v in pipeline.predict(frame).tolist()])
        onnx_labels = np.asarray([str(v) for v in np.asarray(onnx_out.labels).tolist()])
        label_mismatches = int(np.sum(sk_labels != onnx_labels))
        allowed = np.full(expected.shape, tolerance)
    else:
        expected = np.asarray(pipeline.predict(frame), dtype=np.float64).reshape(-1, 1)
        got = np.asarray(onnx_out.values, dtype=np.float64).reshape(-1, 1)
        label_mismatches = 0
        allowed = tolerance * np.maximum(1.0, np.abs(expected))
    if got.shape != expected.shape:
        raise ParityError(f"ONNX output has shape {got.shape}, scikit-learn's has {expected.shape}")
    diff = np.abs(got - expected)
    diff[np.isnan(diff)] = np.inf  # NaN on one side only is as far apart as it gets
    report = ParityReport(
        rows=len(holdout),
        synthetic_rows=len(extra),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        rows_over_tolerance=int(np.any(diff > allowed, axis=1).sum()),
        label_mismatches=label_mismatches,
        tolerance=tolerance,
    )
    if not report.passed:
        raise ParityError(
            f"ONNX parity check failed on {len(frame)} rows ({report.rows} holdout + {report.synthetic_rows} synthetic): "
            f"max abs difference {report.max_abs_diff:.3g} (tolerance {tolerance:g}), "
            f"{report.rows_over_tolerance} rows over tolerance, {report.label_mismatches} label mismatches; nothing published"
        )
    return report
