"""The tests behind the decision, against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelops.rollout.statistics import (
    Outputs,
    mcnemar,
    paired_bootstrap,
    paired_errors,
    score,
    unpaired_bootstrap,
)
from modelops.schema import PrimaryMetric
from tests.rollout.conftest import CLASSES, binary_outputs, binary_truth

AUC = PrimaryMetric("roc_auc", greater_is_better=True)
RMSE = PrimaryMetric("rmse", greater_is_better=False)


def test_mcnemar_exact_matches_the_binomial_by_hand() -> None:
    # 10 rows only the champion got right, 2 only the challenger: 2 * P(X <= 2), X~B(12, .5)
    a = np.array([True] * 10 + [False] * 2 + [True] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 5)
    result = mcnemar(a, b)
    expected = 2 * sum(math.comb(12, i) for i in range(3)) / 2**12
    assert (result.champion_only, result.challenger_only) == (10, 2)
    assert result.p_value == pytest.approx(expected)
    assert result.challenger_worse
    assert not mcnemar(b, a).challenger_worse
    assert mcnemar(a, a).p_value == 1.0


def test_mcnemar_large_samples_use_the_corrected_chi_square() -> None:
    a = np.array([True] * 700 + [False] * 400)
    b = np.array([False] * 700 + [True] * 400)
    chi2 = (abs(700 - 400) - 1) ** 2 / 1100
    assert mcnemar(a, b).p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))


def test_paired_bootstrap_of_identical_models_is_exactly_zero() -> None:
    rng = np.random.default_rng(1)
    y = binary_truth(300, rng)
    out = binary_outputs(y, 0.3, rng)
    interval = paired_bootstrap(AUC, out, out, CLASSES, confidence=0.95, seed=7, resamples=200)
    assert (interval.difference, interval.lower, interval.upper) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_orients_differences_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    y = binary_truth(600, rng)
    good, bad = binary_outputs(y, 0.2, rng), binary_outputs(y, 0.8, rng)
    worse = paired_bootstrap(AUC, good, bad, CLASSES, confidence=0.95, seed=3, resamples=300)
    assert worse.difference == pytest.approx(score(AUC, bad, CLASSES) - score(AUC, good, CLASSES))
    assert worse.lower <= worse.difference <= worse.upper < 0
    again = paired_bootstrap(AUC, good, bad, CLASSES, confidence=0.95, seed=3, resamples=300)
    assert again == worse
    better = paired_bootstrap(AUC, bad, good, CLASSES, confidence=0.95, seed=3, resamples=300)
    assert better.lower > 0


def test_pairing_narrows_the_interval() -> None:
    rng = np.random.default_rng(4)
    y = binary_truth(500, rng)
    a, b = binary_outputs(y, 0.3, rng), binary_outputs(y, 0.32, rng)
    paired = paired_bootstrap(AUC, a, b, CLASSES, confidence=0.9, seed=1, resamples=300)
    unpaired = unpaired_bootstrap(AUC, a, b, CLASSES, confidence=0.9, seed=1, resamples=300)
    assert paired.upper - paired.lower < unpaired.upper - unpaired.lower


def test_lower_is_better_metrics_are_oriented_too() -> None:
    y = np.arange(50, dtype=float)
    close = Outputs(y, values=y + 0.1)
    far = Outputs(y, values=y + 5.0)
    interval = paired_bootstrap(RMSE, close, far, (), confidence=0.95, seed=0, resamples=100)
    assert interval.difference == pytest.approx(-4.9)  # the challenger (far) is worse
    assert paired_errors(y, close.values, far.values)["mean_abs_error_reduction"] == pytest.approx(
        -4.9
    )


def test_paired_bootstrap_refuses_unpaired_rows() -> None:
    y = np.array(["no", "yes"] * 5, dtype=object)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap(
            AUC, binary_outputs(y, 0.1, rng), binary_outputs(y[:8], 0.1, rng), CLASSES,
            confidence=0.9, seed=0,
        )  # fmt: skip
