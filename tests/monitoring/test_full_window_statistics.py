"""KS and Wasserstein over the whole window and the whole reference, from the baseline's fine
bins: within the documented bounds of scipy's figures on the full data at 1M rows, with the
p-value from the full sizes, and merging exactly across workers."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import stats

from modelops.baseline import numeric_baseline
from modelops.monitoring import statistics
from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, numeric_drift

ROWS = 1_000_000


def monitored(reference: np.ndarray, window: np.ndarray, parts: int = 4) -> dict:
    baseline = numeric_baseline(reference)
    acc = NumericAccumulator.for_baseline(baseline)
    for part in np.array_split(window, parts):
        acc.add(part)
    return numeric_drift(baseline, acc, DriftThresholds())


@pytest.mark.parametrize(
    ("kind", "shift", "scale"),
    [("normal", 0.02, 1.0), ("normal", 0.3, 1.2), ("lognormal", 0.05, 1.0), ("prices", 0, 0)],
)
def test_full_window_ks_and_wasserstein_match_scipy_at_1m_rows(
    kind: str, shift: float, scale: float
) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{kind} {shift}".encode()))
    if kind == "normal":
        reference, window = rng.normal(0, 1, ROWS), rng.normal(shift, scale, ROWS)
    elif kind == "lognormal":
        reference, window = rng.lognormal(3, 0.8, ROWS), rng.lognormal(3 + shift, 0.8, ROWS)
    else:  # a few prices, one of which changed share
        reference = rng.choice([19.99, 29.99, 49.99], ROWS, p=[0.5, 0.3, 0.2])
        window = rng.choice([19.99, 29.99, 49.99], ROWS, p=[0.45, 0.35, 0.2])
    result = monitored(reference, window)
    theirs = stats.ks_2samp(reference, window)
    assert result["statistics_from"] == "fine_bins"
    assert abs(result["ks_statistic"] - theirs.statistic) <= 0.002
    assert result["ks_statistic"] <= theirs.statistic + 1e-12
    assert theirs.statistic <= result["ks_statistic"] + result["ks_statistic_error_bound"] + 1e-12
    assert result["ks_statistic_error_bound"] <= 1 / 1000
    # p-value from n = m = 1M (scipy: asymptotic at these sizes); tiny ones in log scale.
    if theirs.pvalue > 1e-300:
        assert math.log10(result["ks_p_value"]) == pytest.approx(math.log10(theirs.pvalue), abs=0.5)
    else:
        assert result["ks_p_value"] < 1e-290
    w = stats.wasserstein_distance(reference, window)
    assert result["wasserstein"] == pytest.approx(w, rel=0.01)


@pytest.mark.parametrize(("n1", "n2", "d"), [(20_000, 300, 0.08), (50_000, 50_000, 0.011)])
def test_ks_pvalue_from_full_counts_is_within_1e_3_of_scipy(n1: int, n2: int, d: float) -> None:
    # scipy's asymptotic branch is kstwo.sf(d, round(n1 n2 / (n1 + n2)))
    en = round(n1 * n2 / (n1 + n2))
    assert statistics.ks_pvalue(d, n1, n2) == pytest.approx(stats.kstwo.sf(d, en), abs=1e-3)


def test_ks_pvalue_of_a_gross_shift_does_not_floor() -> None:
    """A 1000-value sample floors near 1e-12; the full sizes say how extreme it is."""
    rng = np.random.default_rng(5)
    reference, window = rng.normal(0, 1, 200_000), rng.normal(0.15, 1, 100_000)
    result = monitored(reference, window)
    theirs = stats.ks_2samp(reference, window)
    assert theirs.pvalue < 1e-100 and result["ks_p_value"] < 1e-100
    assert math.log10(result["ks_p_value"]) == pytest.approx(math.log10(theirs.pvalue), rel=0.05)


def test_small_samples_keep_scipys_exact_p_value() -> None:
    rng = np.random.default_rng(6)
    reference, window = rng.normal(0, 1, 3000), rng.normal(0.2, 1, 250)
    result = monitored(reference, window, parts=2)
    theirs = stats.ks_2samp(reference, window)  # exact at these sizes
    assert result["ks_statistic"] == pytest.approx(theirs.statistic, abs=1e-12)
    assert result["ks_p_value"] == pytest.approx(theirs.pvalue, abs=1e-6)


def test_fine_bins_merge_exactly_across_workers() -> None:
    rng = np.random.default_rng(7)
    baseline = numeric_baseline(rng.gamma(2.0, 3.0, 50_000))
    values = rng.gamma(2.2, 3.0, 30_000)
    whole = NumericAccumulator.for_baseline(baseline)
    whole.add(values)
    merged = NumericAccumulator.for_baseline(baseline)
    for part in np.array_split(values, 3):
        worker = NumericAccumulator.for_baseline(baseline, seed=99)
        worker.add(part)
        merged.merge(worker)
    assert whole.fine is not None and merged.fine is not None
    assert np.array_equal(whole.fine.counts, merged.fine.counts)
    np.testing.assert_allclose(whole.fine.sums, merged.fine.sums, rtol=1e-12)
    a = numeric_drift(baseline, whole, DriftThresholds())
    b = numeric_drift(baseline, merged, DriftThresholds())
    assert a["ks_statistic"] == b["ks_statistic"] and a["ks_p_value"] == b["ks_p_value"]
    assert a["wasserstein"] == pytest.approx(b["wasserstein"], rel=1e-9)


def test_values_outside_the_training_range_are_seen_by_ks_and_wasserstein() -> None:
    baseline = numeric_baseline(np.full(500, 5.0))
    acc = NumericAccumulator.for_baseline(baseline)
    acc.add(np.full(300, 9.0))
    result = numeric_drift(baseline, acc, DriftThresholds())
    assert result["ks_statistic"] == 1.0 and result["wasserstein"] == pytest.approx(4.0)
    assert result["ks_statistic_error_bound"] == 0.0
