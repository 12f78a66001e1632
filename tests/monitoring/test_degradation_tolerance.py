"""The degradation rule shared by realized and estimated performance
(`modelops.metrics.tolerance_verdict`, docs/MONITORING.md "PerformanceTolerance"): DEGRADED
when the primary metric is worse than the baseline by MORE than `tolerance` times the
baseline, in the metric's own direction. Held at the boundary with values that are exact in
binary floating point: equal to the allowed change is not degraded, one step worse is."""

from __future__ import annotations

import math

import pytest

from modelops.metrics import tolerance_verdict
from modelops.schema import PrimaryMetric

ROC_AUC = PrimaryMetric("roc_auc", greater_is_better=True)
RMSE = PrimaryMetric("rmse", greater_is_better=False)


@pytest.mark.parametrize(
    ("metric", "reference", "at_limit", "one_step_worse"),
    [
        # 0.5 baseline, 25 %: 0.125 lower is allowed, anything lower is degraded
        (ROC_AUC, 0.5, 0.375, math.nextafter(0.375, 0.0)),
        # 2.0 baseline, 25 %: 0.5 higher is allowed, anything higher is degraded
        (RMSE, 2.0, 2.5, math.nextafter(2.5, 3.0)),
    ],
)
def test_degraded_only_when_worse_by_more_than_the_tolerance(
    metric: PrimaryMetric, reference: float, at_limit: float, one_step_worse: float
) -> None:
    allowed = 0.25 * reference
    change, degraded, limit, verb = tolerance_verdict(metric, at_limit, reference, 0.25)
    assert (change, degraded, limit, verb) == (at_limit - reference, False, allowed, "worse")
    change, degraded, limit, verb = tolerance_verdict(metric, one_step_worse, reference, 0.25)
    assert (change, degraded, limit, verb) == (one_step_worse - reference, True, allowed, "worse")


@pytest.mark.parametrize(
    ("metric", "better", "worse"),
    [(ROC_AUC, 0.625, 0.4375), (RMSE, 1.5, 2.25)],
)
def test_the_direction_of_the_change_is_the_metrics_own(
    metric: PrimaryMetric, better: float, worse: float
) -> None:
    reference = 0.5 if metric.greater_is_better else 2.0
    up = tolerance_verdict(metric, better, reference, 0.25)
    assert (up[0], up[1], up[3]) == (better - reference, False, "better")
    down = tolerance_verdict(metric, worse, reference, 0.25)
    assert (down[0], down[1], down[3]) == (worse - reference, False, "worse")
    # far better is never degraded, whatever the size of the change
    far = 1.0 if metric.greater_is_better else 0.0
    assert tolerance_verdict(metric, far, reference, 0.0)[1:] == (False, 0.0, "better")


def test_no_tolerance_makes_any_worse_value_degraded() -> None:
    assert tolerance_verdict(ROC_AUC, math.nextafter(0.5, 0.0), 0.5, 0.0)[1] is True
    assert tolerance_verdict(ROC_AUC, 0.5, 0.5, 0.0)[1] is False
    assert tolerance_verdict(RMSE, math.nextafter(2.0, 3.0), 2.0, 0.0)[1] is True
    assert tolerance_verdict(RMSE, 2.0, 2.0, 0.0)[1] is False


def test_the_tolerance_is_a_share_of_a_baseline_below_one() -> None:
    # 0.8 * 0.05 allowed, not 0.05: a share of the baseline, whatever its size
    assert tolerance_verdict(ROC_AUC, 0.78, 0.8, 0.05)[1:3] == (False, 0.05 * 0.8)
    assert tolerance_verdict(ROC_AUC, 0.75, 0.8, 0.05)[1] is True
