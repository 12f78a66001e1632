"""Model performance on the window's labeled rows, compared with the holdout baseline.

Metrics come from `modelops.metrics.compute_metrics`, the function the training job scores
its holdout with, so the comparison is like for like. The window is DEGRADED when the
primary metric is worse than the baseline's by more than `tolerance` (relative to the
baseline value, so one parameter works for AUC and RMSE alike) on at least `min_labeled`
labeled rows.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.metrics import compute_metrics, primary_metric, tolerance_verdict
from modelops.monitoring.accumulators import LabeledRows
from modelops.schema import ModelSchema, Task, class_key


@dataclass(frozen=True)
class PerformanceThresholds:
    tolerance: float = 0.05
    min_labeled: int = 50


def evaluate(
    schema: ModelSchema,
    labeled: LabeledRows,
    *,
    rows: int,
    baseline: dict[str, Any],
    thresholds: PerformanceThresholds,
) -> dict[str, Any] | None:
    """The `performance` block of a report, or None when no labels joined."""
    if labeled.seen == 0:
        return None
    primary = primary_metric(schema.task)
    block: dict[str, Any] = {
        "labeled": labeled.seen,
        "evaluated": len(labeled),
        "label_coverage": labeled.seen / rows if rows else 0.0,
        "primary_metric": primary.name,
        "greater_is_better": primary.greater_is_better,
        "baseline": {k: float(v) for k, v in baseline.items() if _finite(v)},
        "metrics": {},
        "degraded": False,
        "reason": None,
    }
    keys = None
    if schema.task is not Task.REGRESSION:
        keys = _ClassKeys.of(labeled)
        block["confusion_matrix"] = confusion_matrix(schema, labeled, keys)
    try:
        block["metrics"] = (
            _regression_metrics(labeled)
            if keys is None
            else _classification_metrics(schema, labeled, keys)
        )
    except ValueError as exc:  # e.g. labels that are not numbers for a regression model
        block["reason"] = f"metrics could not be computed: {exc}"
        return block
    current = block["metrics"].get(primary.name)
    reference = block["baseline"].get(primary.name)
    if current is None or reference is None:
        block["reason"] = f"{primary.name} is not available for both the window and the baseline"
    elif labeled.seen < thresholds.min_labeled:
        block["reason"] = (
            f"only {labeled.seen} labeled rows, fewer than the minimum {thresholds.min_labeled}"
        )
    else:
        change, degraded, allowed, verb = tolerance_verdict(
            primary, current, reference, thresholds.tolerance
        )
        block["change"] = change
        block["degraded"] = degraded
        block["reason"] = (
            f"{primary.name} {current:.4f} vs baseline {reference:.4f}: {abs(change):.4f} {verb}, "
            f"allowed {allowed:.4f} worse ({thresholds.tolerance:.0%} of baseline)"
        )
    return block


@dataclass(frozen=True)
class _ClassKeys:
    """The evaluated rows' true and predicted classes as keys, made once for the confusion
    matrix and the metrics (C-level passes over up to a million rows)."""

    truth: list[str]
    predicted: list[str]

    @classmethod
    def of(cls, labeled: LabeledRows) -> _ClassKeys:
        return cls(
            list(map(class_key, labeled.truth)),
            list(map(class_key, map(_LABEL, labeled.outputs))),
        )


def _regression_metrics(labeled: LabeledRows) -> dict[str, float]:
    truth = np.asarray([float(t) for t in labeled.truth], dtype=np.float64)
    values = np.asarray([float(o["value"]) for o in labeled.outputs], dtype=np.float64)
    return _finite_only(compute_metrics(Task.REGRESSION, truth, values=values))


def _classification_metrics(
    schema: ModelSchema, labeled: LabeledRows, class_keys: _ClassKeys
) -> dict[str, float]:
    classes = list(schema.classes or ())
    outputs = labeled.outputs
    truth_keys = np.asarray(class_keys.truth, dtype=object)
    predicted = np.asarray(class_keys.predicted, dtype=object)
    keys = [class_key(c) for c in classes]
    probabilities = None
    scores = list(map(_SCORES, outputs))
    if all(p.__class__ is dict for p in scores):
        probabilities = np.empty((len(scores), len(keys)), dtype=np.float64)
        for column, key in enumerate(keys):
            probabilities[:, column] = list(map(operator.methodcaller("get", key, 0.0), scores))
    return _finite_only(
        compute_metrics(
            schema.task, truth_keys, labels=predicted, probabilities=probabilities, classes=keys
        )
    )


def confusion_matrix(
    schema: ModelSchema, labeled: LabeledRows, class_keys: _ClassKeys | None = None
) -> dict[str, Any]:
    """Counts of (true class, predicted class) over the evaluated rows: rows are the true
    class, columns the predicted one, in the schema's class order; a class seen in the labels
    or outputs but not in the schema is appended, so every evaluated row is counted once."""
    labels = [class_key(c) for c in schema.classes or ()]
    class_keys = class_keys or _ClassKeys.of(labeled)
    truth, predicted = class_keys.truth, class_keys.predicted
    for key in dict.fromkeys((*truth, *predicted)):  # first-seen order, each key once
        if key not in labels:
            labels.append(key)
    index = {key: i for i, key in enumerate(labels)}
    size = len(labels)
    # One cell number per row, counted by one bincount.
    cells = np.fromiter(map(index.__getitem__, truth), dtype=np.int64, count=len(truth)) * size
    cells += np.fromiter(map(index.__getitem__, predicted), dtype=np.int64, count=len(truth))
    matrix = np.bincount(cells, minlength=size * size).reshape(size, size)
    return {"labels": labels, "matrix": matrix.tolist()}


_LABEL = operator.itemgetter("label")
_SCORES = operator.methodcaller("get", "probabilities")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _finite_only(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if _finite(v)}
