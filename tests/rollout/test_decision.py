"""Every decision path of one window: promote, reject (worse, errors, load failure, drift,
maximum age), keep observing."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from modelops.rollout.decision import (
    OBSERVE,
    PROMOTE,
    REJECT,
    Evidence,
    decide,
    decision_seed,
    interval_verdict,
)
from modelops.rollout.statistics import Outputs
from modelops.schema import PrimaryMetric, Task
from tests.rollout.conftest import CLASSES, T0, binary_outputs, binary_truth, challenger

AUC = PrimaryMetric("roc_auc", greater_is_better=True)
NOW = T0 + timedelta(hours=1)


def evidence(champion: Outputs, other: Outputs, **kw: object) -> Evidence:
    return Evidence(Task.BINARY, AUC, CLASSES, champion, other, **kw)  # type: ignore[arg-type]


def shadow_pair(n: int, seed: int, challenger_noise: float) -> tuple[Outputs, Outputs]:
    rng = np.random.default_rng(seed)
    y = binary_truth(n, rng)
    return binary_outputs(y, 0.3, rng), binary_outputs(y, challenger_noise, rng)


def run(ev: Evidence, **rule: float) -> str:
    return decide(ev, challenger(**rule), now=NOW, seed=1, resamples=300).action


def test_an_equal_challenger_is_promoted_even_with_no_margin() -> None:
    a, _ = shadow_pair(300, 1, 0.3)
    d = decide(evidence(a, a), challenger(margin=0.0, min_labeled_rows=300), now=NOW, seed=1)
    assert d.action == PROMOTE
    assert d.statistics["test"]["lower"] == 0.0  # at the margin exactly: promoted
    assert "not worse" in d.reason


def test_a_clearly_worse_challenger_is_rejected() -> None:
    a, b = shadow_pair(600, 2, 1.5)
    d = decide(evidence(a, b), challenger(min_labeled_rows=100), now=NOW, seed=1, resamples=300)
    assert d.action == REJECT and d.reason.startswith("the challenger is worse")
    assert d.statistics["test"]["upper"] < -0.01


def test_minimum_labeled_rows_at_the_boundary() -> None:
    a, _ = shadow_pair(200, 3, 0.3)
    at = evidence(a, a)
    below = evidence(a.take(np.arange(199)), a.take(np.arange(199)))
    assert run(at, min_labeled_rows=200) == PROMOTE
    d = decide(below, challenger(min_labeled_rows=200), now=NOW, seed=1)
    assert d.action == OBSERVE and "199 labeled rows of the 200 needed" in d.reason


def test_inconclusive_keeps_observing_until_the_maximum_age() -> None:
    a, b = shadow_pair(120, 5, 0.45)  # a little worse, too few rows to be sure either way
    ev = evidence(a, b)
    young = decide(ev, challenger(min_labeled_rows=100, max_age_hours=2), now=NOW, seed=1)
    assert young.action == OBSERVE and "inconclusive" in young.reason
    old = decide(
        ev, challenger(min_labeled_rows=100, max_age_hours=2), now=T0 + timedelta(hours=2), seed=1
    )
    assert old.action == REJECT and old.reason.startswith("maximum age reached")


def test_too_few_rows_at_the_maximum_age_is_rejected() -> None:
    a, _ = shadow_pair(50, 6, 0.3)
    ev = evidence(a, a)
    just_before = T0 + timedelta(hours=72) - timedelta(seconds=1)
    assert decide(ev, challenger(), now=just_before, seed=1).action == OBSERVE
    assert decide(ev, challenger(), now=T0 + timedelta(hours=72), seed=1).action == REJECT


def test_a_challenger_that_could_not_be_loaded_is_rejected() -> None:
    a, _ = shadow_pair(300, 7, 0.3)
    d = decide(evidence(a, a, load_error="sha256 mismatch"), challenger(), now=NOW, seed=1)
    assert d.action == REJECT and "could not be loaded: sha256 mismatch" in d.reason


def test_error_rate_at_the_boundary() -> None:
    a, _ = shadow_pair(300, 8, 0.3)
    at = evidence(a, a, challenger_attempts=1000, challenger_errors=10)  # 1.0 %: allowed
    above = evidence(a, a, challenger_attempts=1000, challenger_errors=11)
    assert run(at, min_labeled_rows=300) == PROMOTE
    d = decide(above, challenger(min_labeled_rows=300), now=NOW, seed=1)
    assert d.action == REJECT and "failed on 11 of 1000 rows" in d.reason


def test_prediction_drift_of_the_challenger_alone_rejects() -> None:
    a, _ = shadow_pair(300, 9, 0.3)
    assert run(evidence(a, a, challenger_drift=True, champion_drift=True), min_labeled_rows=1) == (
        PROMOTE
    )
    assert run(evidence(a, a, challenger_drift=True, champion_drift=False)) == REJECT


def test_mcnemar_rejects_worse_labels_behind_an_equal_auc() -> None:
    """The same ranking (same AUC) with a threshold that calls almost everyone "yes"."""
    rng = np.random.default_rng(10)
    y = binary_truth(600, rng)
    a = binary_outputs(y, 0.25, rng)
    assert a.probabilities is not None
    skewed = Outputs(y, labels=np.full(y.size, "yes", dtype=object), probabilities=a.probabilities)
    d = decide(evidence(a, skewed), challenger(min_labeled_rows=100), now=NOW, seed=1)
    assert d.action == REJECT and "McNemar" in d.reason
    assert d.statistics["test"]["difference"] == 0.0


def test_canary_uses_the_unpaired_test() -> None:
    rng = np.random.default_rng(11)
    ya, yb = binary_truth(800, rng), binary_truth(800, rng)
    a, b = binary_outputs(ya, 0.2, rng), binary_outputs(yb, 0.2, rng)
    d = decide(
        evidence(a, b), challenger("canary", margin=0.05, min_labeled_rows=500), now=NOW, seed=1
    )
    assert d.statistics["test"]["kind"] == "unpaired bootstrap"
    assert "mcnemar" not in d.statistics
    assert d.action == PROMOTE


def test_the_same_window_decides_alike() -> None:
    a, b = shadow_pair(150, 12, 0.4)
    seed = decision_seed("churn", 2, "20261130T1200")
    one = decide(evidence(a, b), challenger(min_labeled_rows=100), now=NOW, seed=seed)
    two = decide(evidence(a, b), challenger(min_labeled_rows=100), now=NOW, seed=seed)
    assert one == two
    assert decision_seed("churn", 2, "w1") != decision_seed("churn", 2, "w2")


@pytest.mark.parametrize("noise", [0.3])
def test_statistics_say_what_was_compared(noise: float) -> None:
    a, b = shadow_pair(300, 13, noise)
    d = decide(evidence(a, b, agreement=0.9), challenger(min_labeled_rows=100), now=NOW, seed=1)
    assert d.statistics["labeled_rows"] == {"champion": 300, "challenger": 300}
    assert d.statistics["metric"] == "roc_auc" and d.statistics["agreement"] == 0.9
    assert "mcnemar" in d.statistics and d.as_dict()["action"] == d.action


@pytest.mark.parametrize(
    ("lower", "upper", "expected"),
    [
        (-0.02, -0.01, OBSERVE),  # upper bound at -margin: not confidently worse
        (-0.02, -0.0100001, REJECT),  # just below: confidently worse
        (-0.01, 0.05, PROMOTE),  # lower bound at -margin: not worse by more than the margin
        (-0.0100001, 0.05, OBSERVE),  # just below: inconclusive
        (-0.03, 0.02, OBSERVE),  # across -margin
        (0.1, 0.2, PROMOTE),
    ],
)
def test_the_rule_on_the_bounds_at_the_margin(lower: float, upper: float, expected: str) -> None:
    assert interval_verdict(lower, upper, 0.01) == expected


@pytest.mark.parametrize(
    ("seed", "noise", "by_bounds", "action"),
    [
        (20, None, PROMOTE, PROMOTE),  # the champion's own outputs
        (21, 0.45, REJECT, REJECT),
        (23, 0.32, OBSERVE, OBSERVE),
        (20, 0.3, OBSERVE, REJECT),  # inconclusive bounds, but McNemar: more rows wrong
    ],
)
def test_decide_applies_the_rule_to_the_bounds_it_reports(
    seed: int, noise: float | None, by_bounds: str, action: str
) -> None:
    a, b = shadow_pair(300, seed, noise or 0.3)
    d = decide(
        evidence(a, a if noise is None else b),
        challenger(min_labeled_rows=100),
        now=NOW,
        seed=1,
        resamples=200,
    )
    test = d.statistics["test"]
    assert interval_verdict(test["lower"], test["upper"], 0.01) == by_bounds
    assert d.action == action
    assert ("McNemar" in d.reason) is (by_bounds != action)
