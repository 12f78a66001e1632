"""Model quality metrics in numpy: one implementation for training and monitoring.

The training job scores the holdout with these, the monitor scores captured predictions
joined with feedback with the same functions, so "accuracy 0.88 at training" and "accuracy
0.81 this hour" mean the same thing. No scikit-learn or scipy: this runs in Lambda.
Definitions follow scikit-learn (tests compare against it): `*_score` is higher-better,
`*_error` / `*_loss` lower-better; options are keyword-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelops.schema import PrimaryMetric, Task

# Probabilities are clipped to [EPS, 1 - EPS] for log loss, like scikit-learn's float64 eps.
EPS = float(np.finfo(np.float64).eps)

PRIMARY_METRICS = {
    Task.BINARY: PrimaryMetric("roc_auc", greater_is_better=True),
    Task.MULTICLASS: PrimaryMetric("f1_macro", greater_is_better=True),
    Task.REGRESSION: PrimaryMetric("rmse", greater_is_better=False),
}

# Every metric compute_metrics may report, and which way is better.
GREATER_IS_BETTER = {
    "accuracy": True,
    "f1": True,
    "f1_macro": True,
    "roc_auc": True,
    "log_loss": False,
    "brier_score": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}


# What compute_metrics reports per task, given labels and probabilities (or values).
METRICS_BY_TASK = {
    Task.BINARY: ("accuracy", "f1", "roc_auc", "log_loss", "brier_score"),
    Task.MULTICLASS: ("accuracy", "f1_macro", "log_loss", "brier_score"),
    Task.REGRESSION: ("rmse", "mae", "r2"),
}


def primary_metric(task: Task | str) -> PrimaryMetric:
    """The metric the promotion gate compares by default, and its direction."""
    return PRIMARY_METRICS[Task(task)]


def metric_direction(name: str) -> PrimaryMetric:
    """A PrimaryMetric for any metric name compute_metrics reports."""
    if name not in GREATER_IS_BETTER:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(GREATER_IS_BETTER))}")
    return PrimaryMetric(name, GREATER_IS_BETTER[name])


def is_better_or_equal(
    metric: PrimaryMetric, candidate: float, reference: float, *, tolerance: float = 0.0
) -> bool:
    """True if `candidate` is at least as good as `reference`, allowing `tolerance` worse."""
    if metric.greater_is_better:
        return candidate >= reference - tolerance
    return candidate <= reference + tolerance


def tolerance_verdict(
    primary: PrimaryMetric, current: float, reference: float, tolerance: float
) -> tuple[float, bool, float, str]:
    """The degradation rule shared by realized and estimated performance: worse than the
    baseline by more than `tolerance` (a share of the baseline). Returns the change, whether
    it is degraded, the allowed change and "worse" or "better"."""
    allowed = tolerance * max(abs(reference), 1e-12)
    change = current - reference
    worse_by = -change if primary.greater_is_better else change
    return change, worse_by > allowed, allowed, "worse" if worse_by > 0 else "better"


def _check_1d(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    return arr


def _check_targets(
    y_true: Any, y_other: Any, *, other_name: str = "y_pred"
) -> tuple[np.ndarray, np.ndarray]:
    """The one input validator: same non-zero length, 1-d (or 2-d for probabilities)."""
    true = _check_1d("y_true", y_true)
    other = np.asarray(y_other)
    if other.ndim == 2 and other.shape[1] == 1:
        other = other.reshape(-1)
    if other.ndim not in (1, 2):
        raise ValueError(f"{other_name} must be 1- or 2-dimensional, got shape {other.shape}")
    if true.shape[0] == 0:
        raise ValueError("metrics need at least one sample, got 0")
    if true.shape[0] != other.shape[0]:
        raise ValueError(
            f"y_true has {true.shape[0]} samples but {other_name} has {other.shape[0]}"
        )
    return true, other


def _as_float(name: str, values: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return out


# ---- regression ------------------------------------------------------------------------
def mean_absolute_error(y_true: Any, y_pred: Any) -> float:
    true, pred = _check_targets(y_true, y_pred)
    return float(np.mean(np.abs(_as_float("y_true", true) - _as_float("y_pred", pred))))


def mean_squared_error(y_true: Any, y_pred: Any) -> float:
    true, pred = _check_targets(y_true, y_pred)
    return float(np.mean((_as_float("y_true", true) - _as_float("y_pred", pred)) ** 2))


def root_mean_squared_error(y_true: Any, y_pred: Any) -> float:
    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


def r2_score(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination. Constant y_true: 1.0 if predicted exactly, else 0.0
    (scikit-learn's `force_finite=True` convention, never NaN or -inf)."""
    true, pred = _check_targets(y_true, y_pred)
    t, p = _as_float("y_true", true), _as_float("y_pred", pred)
    residual = float(np.sum((t - p) ** 2))
    total = float(np.sum((t - t.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


# ---- classification --------------------------------------------------------------------
def accuracy_score(y_true: Any, y_pred: Any) -> float:
    true, pred = _check_targets(y_true, y_pred)
    return float(np.mean(_keys(true) == _keys(pred)))


def f1_score(
    y_true: Any,
    y_pred: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Sequence[Any] | None = None,
) -> float:
    """F1 of `pos_label` (average="binary") or the unweighted mean over `labels`
    (average="macro"; default: every label in y_true or y_pred). A class with no true and
    no predicted samples scores 0, as in scikit-learn (zero_division=0)."""
    true, pred = _check_targets(y_true, y_pred)
    t, p = _keys(true), _keys(pred)
    if average == "binary":
        return _f1_of(t, p, str(pos_label))
    if average == "macro":
        keys = (
            [str(c) for c in labels]
            if labels is not None
            else sorted(set(t.tolist()) | set(p.tolist()))
        )
        return float(np.mean([_f1_of(t, p, k) for k in keys]))
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def _f1_of(true: np.ndarray, pred: np.ndarray, key: str) -> float:
    tp = float(np.sum((true == key) & (pred == key)))
    fp = float(np.sum((true != key) & (pred == key)))
    fn = float(np.sum((true == key) & (pred != key)))
    denominator = 2 * tp + fp + fn
    return 0.0 if denominator == 0 else 2 * tp / denominator


def roc_auc_score(y_true: Any, y_score: Any, *, pos_label: Any = 1) -> float:
    """Area under the ROC curve of a binary problem (ties count half: Mann-Whitney U)."""
    true, score = _check_targets(y_true, y_score, other_name="y_score")
    positive = _keys(true) == str(pos_label)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC is undefined when y_true holds only one class")
    ranks = _average_ranks(_as_float("y_score", score))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Tied values share the mean of the ranks they span.
    is_new = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    group = np.cumsum(is_new) - 1
    starts = np.flatnonzero(is_new)
    ends = np.concatenate((starts[1:], [values.size]))
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def log_loss(y_true: Any, probabilities: Any, *, classes: Sequence[Any]) -> float:
    """Mean negative log-likelihood; probabilities [n, k] in the order of `classes`.
    Rows are renormalised and clipped to [EPS, 1-EPS]; a y_true outside `classes` gets
    probability EPS (the model gave it none)."""
    true, proba = _probability_matrix(y_true, probabilities, classes)
    proba = np.clip(proba / proba.sum(axis=1, keepdims=True), EPS, 1.0 - EPS)
    picked = np.where(
        _one_hot(true, classes).any(axis=1), (proba * _one_hot(true, classes)).sum(axis=1), EPS
    )
    return float(-np.mean(np.log(picked)))


def brier_score_loss(y_true: Any, probabilities: Any, *, classes: Sequence[Any]) -> float:
    """Mean squared distance between predicted probabilities and the one-hot truth. For two
    classes: mean (p_positive - y)^2 (classes[1] is positive); for more, the sum over
    classes (scikit-learn's definitions for each case)."""
    true, proba = _probability_matrix(y_true, probabilities, classes)
    squared = (proba - _one_hot(true, classes)) ** 2
    if len(classes) == 2:
        return float(np.mean(squared[:, 1]))
    return float(np.mean(squared.sum(axis=1)))


def _probability_matrix(
    y_true: Any, probabilities: Any, classes: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray]:
    true, proba = _check_targets(y_true, probabilities, other_name="probabilities")
    proba = _as_float("probabilities", proba)
    if proba.ndim == 1:  # the positive class's probability of a binary problem
        proba = np.column_stack((1.0 - proba, proba))
    if proba.shape[1] != len(classes):
        raise ValueError(
            f"probabilities have {proba.shape[1]} columns but there are {len(classes)} classes"
        )
    return true, proba


def _one_hot(true: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    keys = _keys(true)
    return np.column_stack([keys == str(c) for c in classes]).astype(np.float64)


def _keys(values: np.ndarray) -> np.ndarray:
    # Labels compare as strings: feedback may send "1" for class 1, JSON keys are strings.
    return np.asarray(list(map(str, values.tolist())), dtype=object)


# ---- the set for a task ----------------------------------------------------------------
def compute_metrics(
    task: Task | str,
    y_true: Any,
    *,
    labels: Any = None,
    probabilities: Any = None,
    values: Any = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Every metric that applies to `task` and the predictions given.

    Classification: `labels` (predicted) gives accuracy and F1 ("f1" of classes[1] for
    binary, "f1_macro" for multiclass); `probabilities` [n, k] ordered as `classes` adds
    log_loss, brier_score and (binary) roc_auc. Regression: `values` gives rmse, mae, r2.
    Metrics that are undefined for this data (ROC AUC when y_true holds one class) are left
    out rather than reported as NaN.
    """
    task = Task(task)
    metrics: dict[str, float] = {}
    if task is Task.REGRESSION:
        if values is None:
            raise ValueError("regression metrics need `values`")
        metrics["rmse"] = root_mean_squared_error(y_true, values)
        metrics["mae"] = mean_absolute_error(y_true, values)
        metrics["r2"] = r2_score(y_true, values)
        return metrics
    if classes is None or len(classes) < 2:
        raise ValueError("classification metrics need the model's classes (at least two)")
    if labels is None and probabilities is None:
        raise ValueError("classification metrics need `labels` and/or `probabilities`")
    if labels is not None:
        metrics["accuracy"] = accuracy_score(y_true, labels)
        if task is Task.BINARY:
            metrics["f1"] = f1_score(y_true, labels, average="binary", pos_label=classes[1])
        else:
            # Over the classes present in y_true or the predictions, as scikit-learn does, so
            # a small window missing a class is not scored 0 for it.
            metrics["f1_macro"] = f1_score(y_true, labels, average="macro")
    if probabilities is not None:
        proba = np.asarray(probabilities, dtype=np.float64)
        positive = _keys(_check_1d("y_true", y_true)) == str(classes[1])
        # ROC AUC is undefined (not reported) when y_true holds only one class.
        if task is Task.BINARY and 0 < positive.sum() < positive.size:
            metrics["roc_auc"] = roc_auc_score(
                y_true, proba[:, 1] if proba.ndim == 2 else proba, pos_label=classes[1]
            )
        metrics["log_loss"] = log_loss(y_true, proba, classes=classes)
        metrics["brier_score"] = brier_score_loss(y_true, proba, classes=classes)
    return metrics
