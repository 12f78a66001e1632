"""The promotion gate's "at least as good" at its boundary (docs/OPERATIONS.md, --promote
auto): a candidate scoring exactly the champion's score on the same holdout (less the
tolerance) is promoted, one floating-point step worse is not. The champion's score comes
from the gate itself, scoring the real ONNX champion from the registry."""

from __future__ import annotations

import math

import pytest

from modelops.metrics import is_better_or_equal, metric_direction, primary_metric
from modelops.registry import ModelRegistry
from modelops_train.promotion import PromotionDecision, decide
from tests.models import publish_trained, trained_model

BINARY = primary_metric("binary")  # roc_auc, higher is better


def gate(registry: ModelRegistry, candidate: float, tolerance: float = 0.0) -> PromotionDecision:
    trained = trained_model("binary")
    return decide(
        mode="auto",
        registry=registry,
        model_name="churn",
        metric=BINARY,
        candidate_score=candidate,
        holdout=trained.holdout,
        y_true=trained.y_holdout,
        tolerance=tolerance,
    )


@pytest.mark.parametrize("tolerance", [0.0, 0.01])
def test_auto_promotes_a_candidate_exactly_as_good_as_the_champion(
    registry: ModelRegistry, tolerance: float
) -> None:
    publish_trained(registry, "binary")  # champion v1
    champion = gate(registry, 0.0).champion_score
    assert champion is not None and 0.5 < champion <= 1.0
    floor = champion - tolerance
    equal = gate(registry, floor, tolerance)
    assert (equal.promote, equal.champion_version, equal.champion_score) == (True, 1, champion)
    assert equal.reason.startswith("at least as good as the champion: ")
    below = gate(registry, math.nextafter(floor, -math.inf), tolerance)
    assert below.promote is False and below.reason.startswith("worse than the champion: ")
    assert gate(registry, math.nextafter(floor, math.inf), tolerance).promote is True


@pytest.mark.parametrize(
    ("metric", "candidate", "reference", "tolerance", "expected"),
    [
        ("roc_auc", 0.75, 0.75, 0.0, True),
        ("roc_auc", math.nextafter(0.75, 0.0), 0.75, 0.0, False),
        ("roc_auc", 0.5, 0.75, 0.25, True),
        ("roc_auc", math.nextafter(0.5, 0.0), 0.75, 0.25, False),
        ("rmse", 2.0, 2.0, 0.0, True),
        ("rmse", math.nextafter(2.0, 3.0), 2.0, 0.0, False),
        ("rmse", 2.5, 2.0, 0.5, True),
        ("rmse", math.nextafter(2.5, 3.0), 2.0, 0.5, False),
        ("rmse", 1.5, 2.0, 0.0, True),
    ],
)
def test_at_least_as_good_includes_equal_in_both_directions(
    metric: str, candidate: float, reference: float, tolerance: float, expected: bool
) -> None:
    assert (
        is_better_or_equal(metric_direction(metric), candidate, reference, tolerance=tolerance)
        is expected
    )
