"""The tests that compare a challenger with the champion, in numpy only (this runs in Lambda).

Differences are oriented so that positive means "the challenger is better", whatever the
metric's direction, and bounds are one-sided at the stated confidence: the decision asks
"is it confidently not worse than -margin" and "is it confidently worse than -margin".

- paired_bootstrap: shadow, both versions scored the same labeled rows; resampling rows keeps
  each pair together, so the interval is as narrow as the pairing allows.
- unpaired_bootstrap: canary, each version answered its own rows; both samples resampled
  independently.
- mcnemar: shadow classification, on the rows exactly one of the two got right.
- paired_errors: shadow regression, the mean difference of absolute errors (normal approx.).
Bootstraps take a seed: a re-run of the same window gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops.metrics import (
    METRICS_BY_TASK,
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    metric_direction,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from modelops.schema import PrimaryMetric, Task

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Outputs:
    """What one version predicted for rows whose truth is known, row for row."""

    y_true: np.ndarray
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # [n, k], columns ordered as the classes
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y_true)

    def take(self, index: np.ndarray) -> Outputs:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Outputs(
            self.y_true[index], pick(self.labels), pick(self.probabilities), pick(self.values)
        )


Scorer = Callable[[Outputs, Sequence[Any]], float]


def _need(array: np.ndarray | None, what: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"this metric needs the predicted {what}")
    return array


_SCORERS: dict[str, Scorer] = {
    "accuracy": lambda o, c: accuracy_score(o.y_true, _need(o.labels, "labels")),
    "f1": lambda o, c: f1_score(
        o.y_true, _need(o.labels, "labels"), average="binary", pos_label=c[1]
    ),
    "f1_macro": lambda o, c: f1_score(o.y_true, _need(o.labels, "labels"), average="macro"),
    "roc_auc": lambda o, c: roc_auc_score(
        o.y_true, _need(o.probabilities, "probabilities")[:, 1], pos_label=c[1]
    ),
    "log_loss": lambda o, c: log_loss(o.y_true, _need(o.probabilities, "probabilities"), classes=c),
    "brier_score": lambda o, c: brier_score_loss(
        o.y_true, _need(o.probabilities, "probabilities"), classes=c
    ),
    "rmse": lambda o, c: root_mean_squared_error(o.y_true, _need(o.values, "values")),
    "mae": lambda o, c: mean_absolute_error(o.y_true, _need(o.values, "values")),
    "r2": lambda o, c: r2_score(o.y_true, _need(o.values, "values")),
}


def score(metric: PrimaryMetric, outputs: Outputs, classes: Sequence[Any]) -> float:
    """The metric on these rows; NaN where it is undefined (ROC AUC of a single class)."""
    try:
        scorer = _SCORERS[metric.name]
    except KeyError:
        raise ValueError(f"no rollout test for metric {metric.name!r}") from None
    try:
        return scorer(outputs, classes)
    except ValueError as exc:
        if "undefined" in str(exc):
            return math.nan
        raise


def metric_table(task: Task, outputs: Outputs, classes: Sequence[Any]) -> dict[str, float | None]:
    """Every metric the monitor reports for the task, on these rows (None: undefined)."""
    return {
        name: _plain(score(metric_direction(name), outputs, classes)) if len(outputs) else None
        for name in METRICS_BY_TASK[task]
    }


@dataclass(frozen=True)
class Interval:
    """The challenger-minus-champion difference (positive: challenger better)."""

    difference: float
    lower: float  # one-sided lower bound at `confidence`
    upper: float  # one-sided upper bound at `confidence`
    confidence: float
    champion: float
    challenger: float
    rows: int
    resamples: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "difference": _plain(self.difference),
            "lower": _plain(self.lower),
            "upper": _plain(self.upper),
            "confidence": self.confidence,
            "champion": _plain(self.champion),
            "challenger": _plain(self.challenger),
            "rows": self.rows,
            "resamples": self.resamples,
        }


def _oriented(metric: PrimaryMetric, champion: float, challenger: float) -> float:
    return challenger - champion if metric.greater_is_better else champion - challenger


def _interval(
    metric: PrimaryMetric,
    champion: Outputs,
    challenger: Outputs,
    classes: Sequence[Any],
    samples: list[float],
    confidence: float,
) -> Interval:
    """The point difference on all rows and the one-sided bounds of the resampled ones."""
    finite = np.asarray([s for s in samples if math.isfinite(s)])
    if finite.size == 0:
        lower = upper = math.nan
    else:
        lower = float(np.quantile(finite, 1 - confidence))
        upper = float(np.quantile(finite, confidence))
    a, b = score(metric, champion, classes), score(metric, challenger, classes)
    return Interval(
        _oriented(metric, a, b),
        lower,
        upper,
        confidence,
        a,
        b,
        min(len(champion), len(challenger)),
        int(finite.size),
    )


def paired_bootstrap(
    metric: PrimaryMetric,
    champion: Outputs,
    challenger: Outputs,
    classes: Sequence[Any],
    *,
    confidence: float,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
) -> Interval:
    """Both versions on the same rows (same order): resample rows, score both on each."""
    if len(champion) != len(challenger):
        raise ValueError(
            f"paired outputs differ in length: {len(champion)} vs {len(challenger)} rows"
        )
    n = len(champion)

    def same_rows(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        index = rng.integers(0, n, n)
        return index, index

    return _bootstrap(metric, champion, challenger, classes, same_rows, confidence, seed, resamples)


def unpaired_bootstrap(
    metric: PrimaryMetric,
    champion: Outputs,
    challenger: Outputs,
    classes: Sequence[Any],
    *,
    confidence: float,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
) -> Interval:
    """Each version on its own rows: resample both samples independently."""
    a, b = len(champion), len(challenger)

    def own_rows(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, a, a), rng.integers(0, b, b)

    return _bootstrap(metric, champion, challenger, classes, own_rows, confidence, seed, resamples)


def _bootstrap(
    metric: PrimaryMetric,
    champion: Outputs,
    challenger: Outputs,
    classes: Sequence[Any],
    draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    confidence: float,
    seed: int,
    resamples: int,
) -> Interval:
    """The one resampling loop: `draw` picks each resample's rows of both versions."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(resamples):
        rows_a, rows_b = draw(rng)
        samples.append(
            _oriented(
                metric,
                score(metric, champion.take(rows_a), classes),
                score(metric, challenger.take(rows_b), classes),
            )
        )
    return _interval(metric, champion, challenger, classes, samples, confidence)


@dataclass(frozen=True)
class McNemar:
    champion_only: int  # rows only the champion got right
    challenger_only: int  # rows only the challenger got right
    p_value: float

    @property
    def challenger_worse(self) -> bool:
        return self.champion_only > self.challenger_only

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion_only_correct": self.champion_only,
            "challenger_only_correct": self.challenger_only,
            "p_value": self.p_value,
        }


def mcnemar(champion_correct: np.ndarray, challenger_correct: np.ndarray) -> McNemar:
    """McNemar's test: exact binomial up to 1000 discordant pairs, chi-square (continuity
    corrected) beyond. p = 1 when the two never disagree."""
    champion_correct = np.asarray(champion_correct, dtype=bool)
    challenger_correct = np.asarray(challenger_correct, dtype=bool)
    b = int(np.sum(champion_correct & ~challenger_correct))
    c = int(np.sum(~champion_correct & challenger_correct))
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0)
    if n <= 1000:
        k = min(b, c)
        log_terms = [
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(k + 1)
        ]
        p = min(1.0, 2 * sum(math.exp(t) for t in log_terms))
    else:
        chi2 = (abs(b - c) - 1) ** 2 / n
        p = math.erfc(math.sqrt(chi2 / 2))
    return McNemar(b, c, p)


def paired_errors(
    y_true: np.ndarray, champion: np.ndarray, challenger: np.ndarray
) -> dict[str, Any]:
    """Regression in shadow: mean of |champion error| - |challenger error| (positive: the
    challenger errs less) with a two-sided normal-approximation p-value."""
    y = np.asarray(y_true, dtype=np.float64)
    d = np.abs(np.asarray(champion, dtype=np.float64) - y) - np.abs(
        np.asarray(challenger, dtype=np.float64) - y
    )
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n < 2:
        p = math.nan
    elif sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = math.erfc(abs(mean) / (sd / math.sqrt(n)) / math.sqrt(2))
    return {"mean_abs_error_reduction": _plain(mean), "p_value": _plain(p), "rows": n}


def _plain(value: float) -> float | None:
    """JSON has no NaN: undefined figures are null."""
    return None if value is None or not math.isfinite(value) else float(value)
