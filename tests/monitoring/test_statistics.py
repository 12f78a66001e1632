"""The numpy drift statistics equal scipy's (and PSI a direct computation) within 1e-6."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelops.baseline import bin_counts, numeric_baseline
from modelops.monitoring import statistics
from modelops.monitoring.accumulators import CategoricalAccumulator, LabeledRows, NumericAccumulator

TOLERANCE = 1e-6


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (1000, 1000, 0.0),
        (1000, 1000, 0.15),
        (1000, 700, 0.05),
        (1000, 37, 0.3),
        (300, 1000, 0.2),
        (5, 7, 0.0),
        (1000, 1000, 1.0),
        (2, 3, 4.0),
    ],
)
def test_ks_2samp_equals_scipy(n1: int, n2: int, shift: float, rng: np.random.Generator) -> None:
    a = rng.normal(size=n1)
    b = rng.normal(shift, size=n2)
    ours = statistics.ks_2samp(a, b)
    theirs = stats.ks_2samp(a, b)  # method="auto": exact for these sizes
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOLERANCE)
    assert ours.pvalue == pytest.approx(theirs.pvalue, abs=TOLERANCE)


def test_ks_2samp_with_ties_and_a_constant_sample_equals_scipy(rng: np.random.Generator) -> None:
    a = rng.integers(0, 5, size=400).astype(float)
    b = np.full(300, 2.0)
    ours = statistics.ks_2samp(a, b)
    theirs = stats.ks_2samp(a, b)
    assert (ours.statistic, ours.pvalue) == pytest.approx(
        (theirs.statistic, theirs.pvalue), abs=TOLERANCE
    )
    assert statistics.ks_2samp(b, b) == statistics.TestResult(0.0, 1.0)
    assert statistics.ks_2samp(a, np.array([])) == statistics.TestResult(0.0, 1.0)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (2, 12), (3, 4)])
def test_chi2_contingency_equals_scipy(shape: tuple[int, int], rng: np.random.Generator) -> None:
    table = rng.integers(1, 400, size=shape).astype(float)
    table[0] *= 0.37  # non-integer counts, as baseline shares times a count give
    ours = statistics.chi2_contingency(table)
    theirs = stats.chi2_contingency(table)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOLERANCE, rel=TOLERANCE)
    assert ours.pvalue == pytest.approx(theirs.pvalue, abs=TOLERANCE)
    assert ours.dof == theirs.dof


def test_chi2_contingency_drops_empty_categories_like_a_table_without_them() -> None:
    table = np.array([[10.0, 0.0, 30.0], [12.0, 0.0, 25.0]])
    assert statistics.chi2_contingency(table).pvalue == pytest.approx(
        stats.chi2_contingency(table[:, [0, 2]]).pvalue, abs=TOLERANCE
    )
    assert statistics.chi2_contingency(np.array([[5.0], [7.0]])) == statistics.Chi2Result(
        0.0, 1.0, 0
    )


@pytest.mark.parametrize(
    ("x", "dof"),
    [(0.0, 1), (0.1, 1), (3.0, 2), (50.0, 3), (1000.0, 10), (5.0, 40), (200.0, 150), (1e-9, 7)],
)
def test_chi2_sf_equals_scipy(x: float, dof: int) -> None:
    assert statistics.chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), abs=TOLERANCE)


@pytest.mark.parametrize(("n1", "n2"), [(1000, 1000), (1000, 13), (50, 800)])
def test_wasserstein_equals_scipy(n1: int, n2: int, rng: np.random.Generator) -> None:
    a = rng.lognormal(size=n1)
    b = rng.lognormal(0.3, size=n2)
    assert statistics.wasserstein_distance(a, b) == pytest.approx(
        stats.wasserstein_distance(a, b), abs=TOLERANCE
    )


@pytest.mark.parametrize("k", [2, 3, 10, 40])
def test_jensenshannon_equals_scipy(k: int, rng: np.random.Generator) -> None:
    p = rng.random(k)
    q = rng.random(k)
    q[0] = 0.0  # a category one side never has
    assert statistics.jensenshannon_distance(p, q) == pytest.approx(
        jensenshannon(p, q, base=2), abs=TOLERANCE
    )
    assert statistics.jensenshannon_distance(p, p) == pytest.approx(0.0, abs=TOLERANCE)


def test_psi_equals_a_direct_computation_on_the_baselines_bins(rng: np.random.Generator) -> None:
    train = rng.normal(50, 10, size=5000)
    live = rng.normal(55, 12, size=3000)
    baseline = numeric_baseline(train, bins=10)
    expected = np.asarray(baseline["bin_shares"])
    actual = bin_counts(baseline["bin_edges"], live) / live.size
    direct = sum(
        (a - e) * math.log(a / e) for a, e in zip(actual, expected, strict=True) if a > 0 and e > 0
    )
    assert statistics.psi(expected, bin_counts(baseline["bin_edges"], live)) == pytest.approx(
        direct, abs=TOLERANCE
    )


def test_psi_floors_empty_bins_at_epsilon_and_stays_finite() -> None:
    e = np.array([0.5, 0.5, 0.0])
    a = np.array([0.0, 0.5, 0.5])
    eps = statistics.PSI_EPSILON
    direct = (eps - 0.5) * math.log(eps / 0.5) + (0.5 - eps) * math.log(0.5 / eps)
    assert statistics.psi(e, a) == pytest.approx(direct, abs=TOLERANCE)
    assert statistics.psi(e, np.zeros(3)) == 0.0


def test_numeric_accumulator_state_is_bounded_and_its_sample_uniform(
    rng: np.random.Generator,
) -> None:
    acc = NumericAccumulator([0.0, 1.0], sample_size=500, seed=1)
    for _ in range(50):
        acc.add(np.concatenate([rng.uniform(-1, 2, size=2000), [np.nan] * 10]))
    assert acc.rows == 50 * 2010 and acc.missing == 500
    assert acc.counts.sum() == acc.present
    assert acc.sample.size == 500
    # a uniform sample of U(-1, 2): about a third below 0
    assert 0.25 < float(np.mean(acc.sample < 0)) < 0.42
    assert acc.mean() == pytest.approx(0.5, abs=0.02)


def test_categorical_accumulator_caps_distinct_categories() -> None:
    acc = CategoricalAccumulator(max_categories=3)
    acc.add(["a", "b", None, "c", "d", "e", float("nan"), 1])
    assert acc.missing == 2 and acc.rows == 8
    assert len(acc.counts) == 3 and acc.overflow == 3


def test_labeled_rows_keep_a_bounded_reservoir() -> None:
    rows = LabeledRows(capacity=100, seed=0)
    for i in range(10_000):
        rows.add(i % 2, {"label": i % 2})
    assert rows.seen == 10_000 and len(rows) == 100
