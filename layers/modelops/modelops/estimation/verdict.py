"""The `estimated_performance` block of a monitor report and its DEGRADED rule.

The estimate of the primary metric (ROC AUC for binary, F1 macro for multiclass, as for
realized performance) is compared with the realized value on the training holdout, with
the rule realized performance uses: DEGRADED when it is worse by more than `tolerance`
of the baseline. The monitor lets this rule decide only while labels are fewer than the
minimum; with enough labels the realized metric decides and the estimate is reported
beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelops.estimation.accumulator import EstimationAccumulator
from modelops.estimation.cbpe import DEFAULT_CONFIDENCE, estimate
from modelops.metrics import primary_metric, tolerance_verdict
from modelops.schema import Task

METHOD = "CBPE"
REGRESSION_REASON = "no label-free estimate is made for regression"


def no_estimate(reason: str) -> dict[str, Any]:
    return {"method": None, "value": None, "degraded": False, "reason": reason}


def estimated_performance(
    task: Task,
    acc: EstimationAccumulator | None,
    *,
    baseline: Mapping[str, Any],
    tolerance: float,
    unavailable: str = "",
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """The block; `unavailable` says why there is no accumulator (no calibration map)."""
    if task is Task.REGRESSION:
        return no_estimate(REGRESSION_REASON)
    if acc is None:
        return no_estimate(unavailable or "no calibration map: no estimate")
    if acc.rows == 0:
        return no_estimate(
            f"no estimate: none of the {acc.unscored} captured outputs had a known label "
            "and probabilities for every class"
            if acc.unscored
            else "no estimate: no captured outputs"
        )
    estimates, bound = estimate(acc, confidence=confidence)
    primary = primary_metric(task)
    block: dict[str, Any] = {
        "method": METHOD,
        "primary_metric": primary.name,
        "greater_is_better": primary.greater_is_better,
        "metrics": {name: e.value for name, e in estimates.items()},
        "bands": {name: {"lower": e.lower, "upper": e.upper} for name, e in estimates.items()},
        "value": None,
        "lower": None,
        "upper": None,
        "confidence": confidence,
        "rows": acc.rows,
        "unscored": acc.unscored,
        "roc_auc_binning_bound": bound,
        "calibration": {"method": acc.calibration.method, "holdout_rows": acc.calibration.rows},
        "baseline": None,
        "degraded": False,
        "reason": None,
    }
    chosen = estimates.get(primary.name)
    reference = baseline.get(primary.name)
    if chosen is None or not math.isfinite(chosen.value):
        block["reason"] = f"estimated {primary.name} is undefined for this window"
        return block
    block.update(value=chosen.value, lower=chosen.lower, upper=chosen.upper)
    if not isinstance(reference, (int, float)) or not math.isfinite(reference):
        block["reason"] = f"estimated {primary.name}: the version has no baseline to compare with"
        return block
    block["baseline"] = float(reference)
    change, degraded, allowed, verb = tolerance_verdict(
        primary, chosen.value, float(reference), tolerance
    )
    block["change"] = change
    block["degraded"] = degraded
    block["reason"] = (
        f"estimated {primary.name} {chosen.value:.4f} ({confidence:.0%} band "
        f"{chosen.lower:.4f}-{chosen.upper:.4f}, {acc.rows} rows, no labels needed) vs "
        f"baseline {reference:.4f}: {abs(change):.4f} {verb}, allowed {allowed:.4f} worse "
        f"({tolerance:.0%} of baseline)"
    )
    return block
