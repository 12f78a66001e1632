"""A categorical feature's chi-square (docs/MONITORING.md, drift statistics) is scipy's test
of homogeneity on counts: the baseline's present values (its rows less the missing ones)
spread over its category shares, against the window's counts, unseen categories in one bin.
A baseline without a count is no evidence (p = 1)."""

from __future__ import annotations

import pytest
from scipy import stats

from modelops.baseline import categorical_baseline
from modelops.monitoring.accumulators import CategoricalAccumulator
from modelops.monitoring.drift import DriftThresholds, categorical_drift


def window_of(values: list[object]) -> CategoricalAccumulator:
    window = CategoricalAccumulator()
    window.add(values)
    return window


@pytest.mark.parametrize("missing", [0, 10, 40])
def test_the_baseline_counts_are_its_present_values_over_its_shares(missing: int) -> None:
    present_a, present_b = 60, 30  # the baseline's present values
    baseline = categorical_baseline(["a"] * present_a + ["b"] * present_b + [None] * missing)
    assert baseline["count"] == present_a + present_b + missing
    window = window_of(["a"] * 20 + ["b"] * 25 + ["c"] * 5 + [None] * 3)
    result = categorical_drift(baseline, window, DriftThresholds())
    # columns a, b and the unseen bin (c)
    theirs = stats.chi2_contingency([[present_a, present_b, 0], [20, 25, 5]])
    assert result["chi2_statistic"] == pytest.approx(theirs.statistic, rel=1e-9)
    assert result["chi2_p_value"] == pytest.approx(theirs.pvalue, rel=1e-9)


def test_a_baseline_without_a_count_is_no_evidence() -> None:
    baseline = categorical_baseline(["a"] * 60 + ["b"] * 30)
    del baseline["count"]
    result = categorical_drift(baseline, window_of(["a"] * 5 + ["b"] * 40), DriftThresholds())
    assert (result["chi2_statistic"], result["chi2_p_value"]) == (0.0, 1.0)
