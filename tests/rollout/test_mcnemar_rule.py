"""The shadow rejection by McNemar at its boundaries (docs/OPERATIONS.md, "Safe rollout"):
rejected when McNemar says the challenger gets significantly more rows wrong (p below
1 - confidence) BY MORE than the margin (its accuracy lower by more than `margin`); and
the error rule: more than `max_error_rate` of the challenger's scorings failed.

Both versions rank the rows alike (the same probabilities: the bootstrap difference is 0,
the bounds alone promote), the champion labels every row right and the challenger k of 200
wrong, so McNemar's exact p is 2 / 2^k and the accuracy drop k / 200."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from modelops.metrics import primary_metric
from modelops.rollout.decision import PROMOTE, REJECT, Evidence, decide
from modelops.rollout.statistics import Outputs, mcnemar
from modelops.schema import Task
from tests.rollout.conftest import CLASSES, T0, challenger

ROWS = 200


def pair(wrong: int) -> tuple[Outputs, Outputs]:
    y = np.array(["yes", "no"] * (ROWS // 2), dtype=object)
    p = np.linspace(0.3, 0.7, ROWS)
    probabilities = np.column_stack([1 - p, p])
    flipped = y.copy()
    flipped[:wrong] = np.where(y[:wrong] == "yes", "no", "yes")
    return (
        Outputs(y, labels=y.copy(), probabilities=probabilities),
        Outputs(y, labels=flipped, probabilities=probabilities),
    )


def action(wrong: int, **rule: float) -> tuple[str, str]:
    champion, other = pair(wrong)
    evidence = Evidence(Task.BINARY, primary_metric("binary"), CLASSES, champion, other)
    decision = decide(
        evidence,
        challenger(min_labeled_rows=ROWS, **rule),
        now=T0 + timedelta(hours=1),
        seed=1,
        resamples=50,
    )
    return decision.action, decision.reason


def test_the_accuracy_drop_must_exceed_the_margin() -> None:
    drop = float(np.mean(np.ones(ROWS)) - np.mean(np.arange(ROWS) >= 20))  # 20 rows wrong
    assert drop == pytest.approx(0.1)
    at, _ = action(20, margin=drop)
    assert at == PROMOTE  # p = 2 / 2^20, far below 0.05, but the drop is not MORE
    below, reason = action(20, margin=math.nextafter(drop, 0.0))
    assert below == REJECT and reason.startswith("the challenger is worse: McNemar p=")


def test_the_p_value_must_be_below_one_minus_the_confidence() -> None:
    champion, other = pair(5)  # 5 rows wrong: p = 2 / 2^5 = 0.0625 exactly; drop 0.025 > 0.01
    assert champion.labels is not None and other.labels is not None
    p = mcnemar(champion.labels == champion.y_true, other.labels == other.y_true).p_value
    assert p == 0.0625 == 1 - 0.9375
    at, _ = action(5, confidence=0.9375)
    assert at == PROMOTE
    below, reason = action(5, confidence=math.nextafter(0.9375, 0.0))
    assert below == REJECT and "McNemar p=0.0625" in reason


def test_one_failed_scoring_of_one_is_a_failure_rate_of_one() -> None:
    champion, other = pair(0)
    evidence = Evidence(
        Task.BINARY,
        primary_metric("binary"),
        CLASSES,
        champion,
        other,
        challenger_attempts=1,
        challenger_errors=1,
    )
    decision = decide(
        evidence,
        challenger(min_labeled_rows=ROWS, max_error_rate=0.75),
        now=T0 + timedelta(hours=1),
        seed=1,
        resamples=50,
    )
    assert decision.action == REJECT
    assert decision.reason == "the challenger failed on 1 of 1 rows (100.00% > 75.00%)"
    assert decision.statistics["challenger_error_rate"] == 1.0
