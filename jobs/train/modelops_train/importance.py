"""Permutation importance on the holdout, and the per-feature drift thresholds of a version.

Both are stored in metadata.json for the monitor's window verdict (modelops.monitoring.verdict):

    "feature_importance": {"method": "permutation", "metric": "roc_auc", "repeats": 5,
                           "rows": 400, "mean": {f: drop}, "std": {f: ...},
                           "shares": {f: share of the total positive drop}}
    "drift_thresholds": {"<feature>": {"psi": 0.3, ...}}   # only when set

Importance is how much the primary metric gets worse when one feature's holdout values are
shuffled (scikit-learn's permutation_importance, scored with the same compute_metrics the
holdout metrics come from), so it measures what the model relies on, on unseen rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from modelops.metrics import compute_metrics
from modelops.monitoring.verdict import FEATURE_THRESHOLDS
from modelops.schema import PrimaryMetric, Task
from modelops_train.errors import UsageError

REPEATS = 5
# Enough rows for a stable ranking; bounds the cost (features x repeats predictions).
MAX_ROWS = 10_000


def feature_importance(
    pipeline: Any,
    x_holdout: pd.DataFrame,
    y_holdout: np.ndarray,
    *,
    task: Task,
    classes: Sequence[Any] | None,
    metric: PrimaryMetric,
    seed: int,
) -> dict[str, Any]:
    if len(x_holdout) > MAX_ROWS:
        rows = np.random.default_rng(seed).choice(len(x_holdout), MAX_ROWS, replace=False)
        x_holdout, y_holdout = x_holdout.iloc[np.sort(rows)], y_holdout[np.sort(rows)]
    sign = 1.0 if metric.greater_is_better else -1.0

    def score(estimator: Any, x: pd.DataFrame, y: np.ndarray) -> float:
        if task.is_classification:
            probabilities = estimator.predict_proba(x)
            labels = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
            values = compute_metrics(
                task, y, labels=labels, probabilities=probabilities, classes=classes
            )
        else:
            values = compute_metrics(task, y, values=np.asarray(estimator.predict(x), float))
        return sign * float(values.get(metric.name, np.nan))

    result = permutation_importance(
        pipeline, x_holdout, y_holdout, scoring=score, n_repeats=REPEATS, random_state=seed
    )
    names = list(x_holdout.columns)
    mean = {n: float(m) for n, m in zip(names, np.nan_to_num(result.importances_mean), strict=True)}
    std = {n: float(s) for n, s in zip(names, np.nan_to_num(result.importances_std), strict=True)}
    positive = {n: max(v, 0.0) for n, v in mean.items()}
    total = sum(positive.values())
    return {
        "method": "permutation",
        "metric": metric.name,
        "repeats": REPEATS,
        "rows": len(x_holdout),
        "mean": mean,
        "std": std,
        "shares": {n: (v / total if total > 0 else 0.0) for n, v in positive.items()},
    }


def parse_drift_thresholds(flags: Iterable[str]) -> dict[str, dict[str, float]]:
    """`feature=psi:0.3[,wasserstein:0.5]` flags as {feature: {statistic: value}}."""
    out: dict[str, dict[str, float]] = {}
    for flag in flags:
        feature, sep, spec = flag.partition("=")
        if not sep or not feature.strip() or not spec.strip():
            raise UsageError(
                f"--drift-threshold expects FEATURE=STATISTIC:VALUE[,STATISTIC:VALUE], got {flag!r}"
            )
        for part in spec.split(","):
            name, sep, raw = part.partition(":")
            name = name.strip()
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not sep or name not in FEATURE_THRESHOLDS or not np.isfinite(value):
                raise UsageError(
                    f"--drift-threshold {flag!r}: expected STATISTIC:NUMBER with STATISTIC one "
                    f"of {', '.join(FEATURE_THRESHOLDS)}"
                )
            out.setdefault(feature.strip(), {})[name] = value
    return out


def check_drift_thresholds(
    thresholds: Mapping[str, Mapping[str, float]], features: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Every override names a feature of the model and lies in its statistic's range."""
    problems = []
    for feature, values in thresholds.items():
        if feature not in features:
            problems.append(f"{feature!r} is not a feature of the model ({', '.join(features)})")
        for name, value in values.items():
            low, high = FEATURE_THRESHOLDS.get(name, (np.nan, np.nan))
            if not low <= value <= high:
                problems.append(
                    f"{feature}: {name} must be between {low:g} and {high:g}, got {value:g}"
                )
    if problems:
        raise UsageError("invalid drift threshold: " + "; ".join(problems))
    return {f: dict(v) for f, v in thresholds.items()}
