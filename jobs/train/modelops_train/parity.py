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
# Synthetic rows aimed at (wide data gets fewer base rows per feature, never fewer than one).
MAX_SYNTHETIC_ROWS = 2000


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
    """Variations of `base` rows: each feature missing, all missing, unseen categories.

    Each feature gets up to SYNTHETIC_BASE_ROWS variant rows, fewer for wide data so that the
    variants stay near MAX_SYNTHETIC_ROWS (one row per feature at least): the table is rows x
    features, so 20 rows per feature of 3,000 features would be 180 million cells.
    Built column by column from numpy arrays, not by concatenating one frame per feature.
    """
    features = schema.features
    base = base.head(SYNTHETIC_BASE_ROWS).reset_index(drop=True)
    k = max(1, min(len(base), MAX_SYNTHETIC_ROWS // max(1, len(features))))
    # Row blocks, in order: per feature k rows with it missing (then, for a categorical
    # feature, k rows with an unseen category), then one row with every feature missing.
    starts: list[tuple[int, int | None]] = []
    n = 0
    for spec in features:
        unseen = n + k if spec.kind is FeatureKind.CATEGORICAL else None
        starts.append((n, unseen))
        n += 2 * k if unseen is not None else k
    source = np.concatenate([np.tile(np.arange(k), n // k), [0]]) if n else np.zeros(1, int)
    out: dict[str, np.ndarray] = {}
    for spec, (missing_at, unseen_at) in zip(features, starts, strict=True):
        if spec.kind is FeatureKind.NUMERIC:
            values = base[spec.name].to_numpy(dtype=np.float32)[source]
            values[missing_at : missing_at + k] = np.nan
            values[-1] = np.nan
        else:
            values = base[spec.name].to_numpy(dtype=object)[source]
            values[missing_at : missing_at + k] = MISSING_CATEGORY
            if unseen_at is not None:
                values[unseen_at : unseen_at + k] = UNSEEN_CATEGORY
            values[-1] = MISSING_CATEGORY
        out[spec.name] = values
    return pd.DataFrame(out)


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
