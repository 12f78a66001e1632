"""Each per-feature drift rule of docs/MONITORING.md at its boundary, one rule at a time (the
others set so they cannot fire), with the threshold set exactly to the statistic the code
computed and one floating-point step past it:

- numeric: PSI >= threshold; KS p-value < threshold AND normalised Wasserstein >= threshold;
- categorical: PSI >= threshold; chi-square p-value < threshold AND Jensen-Shannon >=
  threshold; unseen share >= threshold (categories the baseline lacks, and those past the
  window's cap on distinct values);
- both: |missing share now - missing share in training| >= threshold.

The statistics themselves are checked against scipy and the formulas elsewhere; the shares
and missing shares the rules read are checked here."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from modelops.baseline import categorical_baseline, numeric_baseline
from modelops.monitoring import statistics
from modelops.monitoring.accumulators import CategoricalAccumulator, NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, categorical_drift, numeric_drift

NOTHING_FIRES = DriftThresholds(
    psi=math.inf,
    p_value=0.0,
    wasserstein=math.inf,
    jensen_shannon=math.inf,
    unseen_share=math.inf,
    missing_share_change=math.inf,
)


def up(value: float) -> float:
    return math.nextafter(value, math.inf)


def with_(**thresholds: float) -> DriftThresholds:
    return dataclasses.replace(NOTHING_FIRES, **thresholds)


def categorical_case() -> tuple[dict[str, Any], CategoricalAccumulator]:
    """Training: a 60, b 30, 10 missing. Window: a 20, b 25, unseen c 5, 5 missing."""
    baseline = categorical_baseline(["a"] * 60 + ["b"] * 30 + [None] * 10)
    window = CategoricalAccumulator()
    window.add(["a"] * 20 + ["b"] * 25 + ["c"] * 5 + [None] * 5)
    return baseline, window


def numeric_case() -> tuple[dict[str, Any], NumericAccumulator]:
    rng = np.random.default_rng(20261201)
    baseline = numeric_baseline([*rng.normal(0.0, 1.0, 2_000), *[None] * 100])
    window = NumericAccumulator.for_baseline(baseline)
    window.add([*rng.normal(0.4, 1.0, 500), *[None] * 20])
    return baseline, window


def test_nothing_fires_when_every_threshold_is_out_of_reach() -> None:
    baseline, window = categorical_case()
    assert categorical_drift(baseline, window, NOTHING_FIRES)["drifted"] is False
    baseline, numbers = numeric_case()
    assert numeric_drift(baseline, numbers, NOTHING_FIRES)["drifted"] is False


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_psi_rule_fires_at_its_threshold_not_above(kind: str) -> None:
    drift: Any = numeric_drift if kind == "numeric" else categorical_drift
    baseline, window = numeric_case() if kind == "numeric" else categorical_case()
    psi = drift(baseline, window, NOTHING_FIRES)["psi"]
    at = drift(baseline, window, with_(psi=psi))
    assert at["drifted"] is True and at["reasons"][0].startswith("PSI ")
    assert drift(baseline, window, with_(psi=up(psi)))["drifted"] is False


def test_ks_and_wasserstein_rule_needs_both_at_their_thresholds() -> None:
    baseline, window = numeric_case()
    found = numeric_drift(baseline, window, NOTHING_FIRES)
    p, distance = found["ks_p_value"], found["wasserstein_normalized"]
    assert 0.0 < p < 0.05 and distance > 0.2

    def fires(p_value: float, wasserstein: float) -> bool:
        thresholds = with_(p_value=p_value, wasserstein=wasserstein)
        result = numeric_drift(baseline, window, thresholds)
        return bool(result["drifted"])

    assert fires(up(p), distance) is True  # p below its threshold, distance at its own
    assert fires(p, distance) is False  # p equal to its threshold: not below
    assert fires(up(p), up(distance)) is False  # distance just below its threshold
    assert fires(1.0, up(distance)) is False  # one alone is not enough
    assert fires(0.0, distance) is False


def test_chi_square_and_jensen_shannon_rule_needs_both_at_their_thresholds() -> None:
    baseline, window = categorical_case()
    found = categorical_drift(baseline, window, NOTHING_FIRES)
    p, js = found["chi2_p_value"], found["jensen_shannon"]
    assert 0.0 < p < 1.0 and js > 0.0

    def fires(p_value: float, jensen_shannon: float) -> bool:
        thresholds = with_(p_value=p_value, jensen_shannon=jensen_shannon)
        return bool(categorical_drift(baseline, window, thresholds)["drifted"])

    assert fires(up(p), js) is True
    assert fires(p, js) is False
    assert fires(up(p), up(js)) is False
    assert fires(1.0, up(js)) is False
    assert fires(0.0, js) is False


def test_unseen_share_is_of_present_values_and_fires_at_its_threshold() -> None:
    baseline, window = categorical_case()
    found = categorical_drift(baseline, window, NOTHING_FIRES)
    assert found["unseen_share"] == 5 / 50  # c among the 50 present values
    assert found["unseen_categories"] == {"c": 5}
    at = categorical_drift(baseline, window, with_(unseen_share=0.1))
    assert at["drifted"] is True and at["reasons"][0].startswith("unseen categories are 10.0%")
    assert categorical_drift(baseline, window, with_(unseen_share=up(0.1)))["drifted"] is False


def test_values_past_the_windows_cap_on_categories_count_as_unseen() -> None:
    baseline, _ = categorical_case()
    window = CategoricalAccumulator(max_categories=2)
    window.add(["a", "b", "x", "y", "a", "b", "a", "b"])  # x and y past the cap
    found = categorical_drift(baseline, window, NOTHING_FIRES)
    assert found["unseen_share"] == 2 / 8
    assert found["unseen_categories"] == {"__overflow__": 2}


def test_a_window_of_missing_values_only_has_no_unseen_share() -> None:
    baseline, _ = categorical_case()
    window = CategoricalAccumulator()
    window.add([None] * 4)
    found = categorical_drift(baseline, window, with_(unseen_share=0.0))
    assert found["unseen_share"] == 0.0
    assert not any(r.startswith("unseen") for r in found["reasons"])
    assert found["missing_share"]["current"] == 1.0


def test_the_categorical_psi_compares_the_training_shares_with_the_window_counts() -> None:
    baseline = categorical_baseline(["a"] * 6 + ["b"] * 3 + ["z"] * 1, max_categories=2)
    assert baseline["other_share"] > 0.0  # z: past the training cap, the "other" share
    window = CategoricalAccumulator()
    window.add(["a"] * 7 + ["q"] * 2)  # no b at all; q unseen
    found = categorical_drift(baseline, window, NOTHING_FIRES)
    shares = baseline["category_shares"]
    expected = statistics.psi(
        np.array([shares["a"], shares["b"], baseline["other_share"]]),
        np.array([7.0, 0.0, 2.0]),
    )
    assert found["psi"] == expected
    legacy = {k: v for k, v in baseline.items() if k != "other_share"}  # read as 0
    assert categorical_drift(legacy, window, NOTHING_FIRES)["psi"] == statistics.psi(
        np.array([shares["a"], shares["b"], 0.0]), np.array([7.0, 0.0, 2.0])
    )


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_missing_share_rule_fires_at_its_threshold_not_above(kind: str) -> None:
    drift: Any = numeric_drift if kind == "numeric" else categorical_drift
    baseline, window = numeric_case() if kind == "numeric" else categorical_case()
    missing = drift(baseline, window, NOTHING_FIRES)["missing_share"]
    before = float(baseline["missing_share"])
    now = window.missing / window.rows
    assert missing == {"baseline": before, "current": now, "change": now - before}
    change = abs(now - before)
    at = drift(baseline, window, with_(missing_share_change=change))
    assert at["drifted"] is True and at["reasons"][0].startswith("missing share ")
    assert drift(baseline, window, with_(missing_share_change=up(change)))["drifted"] is False


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_an_empty_window_and_a_baseline_without_missing_share_read_as_zero(kind: str) -> None:
    if kind == "numeric":
        baseline, _ = numeric_case()
        window: Any = NumericAccumulator.for_baseline(baseline)
        drift: Any = numeric_drift
    else:
        baseline, _ = categorical_case()
        window = CategoricalAccumulator()
        drift = categorical_drift
    legacy = {k: v for k, v in baseline.items() if k != "missing_share"}
    found = drift(legacy, window, NOTHING_FIRES)
    assert found["missing_share"] == {"baseline": 0.0, "current": 0.0, "change": 0.0}


def test_the_numeric_window_reports_its_range_only_when_it_has_values() -> None:
    baseline, window = numeric_case()
    found = numeric_drift(baseline, window, NOTHING_FIRES)
    current = found["current"]
    assert found["baseline"]["bin_edges"] == list(baseline["bin_edges"])  # the report's histogram
    assert (current["min"], current["max"]) == (window.minimum, window.maximum)
    assert current["min"] < current["max"]
    empty = NumericAccumulator.for_baseline(baseline)
    current = numeric_drift(baseline, empty, NOTHING_FIRES)["current"]
    assert (current["min"], current["max"]) == (None, None)
