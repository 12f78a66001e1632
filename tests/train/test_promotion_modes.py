"""The promotion gate's modes as docs/TRAINING.md ("The promotion gate") states them, decided
by `modelops_train.promotion.decide` against a real registry and the real ONNX champion:

- never: publish only; force: champion;
- challenger (the default) and auto: no champion yet -> promote (the first version);
- challenger: otherwise the challenger, never promoted on the holdout, which is still
  compared and recorded in the reason ("higher/lower is better");
- auto: a champion that cannot be scored on this data is not replaced (use force), and in
  challenger mode it is challenged all the same."""

from __future__ import annotations

import math

import pytest

from modelops.metrics import primary_metric
from modelops.registry import ModelRegistry
from modelops_train.promotion import PromotionDecision, decide
from tests.models import publish_trained, trained_model


def gate(
    registry: ModelRegistry, mode: str, candidate: float, kind: str = "binary"
) -> PromotionDecision:
    trained = trained_model(kind)
    return decide(
        mode=mode,
        registry=registry,
        model_name="churn",
        metric=trained.primary_metric,
        candidate_score=candidate,
        holdout=trained.holdout,
        y_true=trained.y_holdout,
        tolerance=0.0,
    )


@pytest.mark.parametrize("mode", ["challenger", "auto"])
def test_the_first_version_is_promoted(registry: ModelRegistry, mode: str) -> None:
    decision = gate(registry, mode, 0.0)  # even the worst score: there is no champion
    assert (decision.promote, decision.challenge) == (True, False)
    assert (decision.champion_version, decision.champion_score) == (None, None)
    assert decision.reason == "first version of the model: no champion yet"


@pytest.mark.parametrize("champion", [False, True])
def test_never_publishes_only_and_force_promotes(registry: ModelRegistry, champion: bool) -> None:
    if champion:
        publish_trained(registry, "binary")
    never = gate(registry, "never", 1.0)
    assert (never.promote, never.challenge, never.reason) == (False, False, "--promote never")
    forced = gate(registry, "force", 0.0)
    assert (forced.promote, forced.challenge, forced.reason) == (True, False, "--promote force")
    assert forced.champion_version == (1 if champion else None)


@pytest.mark.parametrize("candidate", [0.0, 1.0])
def test_challenger_mode_never_promotes_on_the_holdout_but_records_the_comparison(
    registry: ModelRegistry, candidate: float
) -> None:
    publish_trained(registry, "binary")
    decision = gate(registry, "challenger", candidate)  # far worse or far better: the same
    assert (decision.promote, decision.challenge, decision.champion_version) == (False, True, 1)
    champion = gate(registry, "auto", 0.0).champion_score
    assert decision.champion_score == champion and champion is not None
    assert decision.reason == (
        "challenger of v1, to be decided on live requests; holdout: "
        f"roc_auc {candidate:.6g} vs champion v1 {champion:.6g} "
        "on the same holdout (higher is better, tolerance 0)"
    )


def test_the_comparison_says_lower_is_better_for_an_error_metric(registry: ModelRegistry) -> None:
    publish_trained(registry, "regression", name="churn")
    trained = trained_model("regression")
    assert trained.primary_metric == primary_metric("regression")  # rmse
    worse = gate(registry, "auto", math.inf, kind="regression")
    assert worse.promote is False
    assert "(lower is better, tolerance 0)" in worse.reason


@pytest.mark.parametrize(
    ("mode", "promote", "challenge", "reason"),
    [
        (
            "auto",
            False,
            False,
            "champion v1 cannot be scored on this holdout (it needs features this data "
            "lacks: {missing}); use --promote force to replace it",
        ),
        (
            "challenger",
            False,
            True,
            "challenger of v1 (not comparable on this holdout: it needs features this data "
            "lacks: {missing})",
        ),
    ],
)
def test_a_champion_that_cannot_be_scored_is_not_replaced_automatically(
    registry: ModelRegistry, mode: str, promote: bool, challenge: bool, reason: str
) -> None:
    champion = publish_trained(registry, "multiclass", name="churn")  # the wine model
    missing = ", ".join(f["name"] for f in champion["features"])
    decision = gate(registry, mode, 1.0)  # a perfect candidate all the same
    assert (decision.promote, decision.challenge) == (promote, challenge)
    assert (decision.champion_version, decision.champion_score) == (1, None)
    assert decision.reason == reason.format(missing=missing)
