"""The window verdict's four rules at their boundaries (equal, just below, just above), the
per-feature threshold overrides, and the monitor using the importance and overrides the
training job stores in metadata.json."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import pytest

from embedded_aws.provision import LocalStack
from modelops.baseline import numeric_baseline
from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, numeric_drift
from modelops.monitoring.report import Status, version_status
from modelops.monitoring.verdict import (
    feature_thresholds,
    importance_shares,
    thresholds_used,
    window_verdict,
)
from modelops.monitoring.window import Window
from modelops.registry import ModelRegistry
from modelops_train.api import publish_trained
from modelops_train.errors import UsageError
from modelops_train.importance import check_drift_thresholds, parse_drift_thresholds
from modelops_train.progress import Progress
from tests.models import trained_model
from tests.monitoring.conftest import WINDOW_EVENT, CaptureWriter, churn, make_monitor

# Exact in binary floating point, so "equal to the threshold" is really equal.
SHARES = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.125}


def features(*drifted: str) -> dict[str, dict[str, Any]]:
    return {name: {"drifted": name in drifted, "reasons": []} for name in SHARES}


def fired(verdict: dict[str, Any]) -> dict[str, bool]:
    return {r["rule"]: r["fired"] for r in verdict["rules"]}


@pytest.mark.parametrize(
    ("threshold", "expected"), [(0.5, True), (0.5 - 1e-9, True), (0.5 + 1e-9, False)]
)
def test_drifted_share_rule_at_its_threshold(threshold: float, expected: bool) -> None:
    thresholds = DriftThresholds(drifted_share=threshold, top_features=0, weighted_score=1.0)
    verdict = window_verdict(features("c", "d"), None, SHARES, thresholds)
    assert fired(verdict)["drifted_share"] is expected
    assert verdict["dataset_drift"] is expected
    assert verdict["drifted_share"] == 0.5
    assert "2 of 4 features drifted (50%" in verdict["rules"][0]["detail"]


@pytest.mark.parametrize(("top", "expected"), [(1, False), (2, True), (3, True)])
def test_important_feature_rule_counts_exactly_the_top_k(top: int, expected: bool) -> None:
    thresholds = DriftThresholds(top_features=top, weighted_score=1.0)
    verdict = window_verdict(features("b"), None, SHARES, thresholds)  # b ranks second
    assert fired(verdict)["important_feature"] is expected
    assert verdict["dataset_drift"] is expected
    detail = verdict["rules"][1]["detail"]
    assert ("drifted among the" in detail) is expected and "a (50%)" in detail


def test_important_feature_rule_ignores_features_the_model_does_not_use() -> None:
    shares = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    thresholds = DriftThresholds(top_features=3, weighted_score=1.0)
    verdict = window_verdict(features("b"), None, shares, thresholds)
    assert not fired(verdict)["important_feature"]


@pytest.mark.parametrize(
    ("threshold", "expected"), [(0.375, True), (0.375 - 1e-9, True), (0.375 + 1e-9, False)]
)
def test_weighted_score_rule_at_its_threshold(threshold: float, expected: bool) -> None:
    thresholds = DriftThresholds(drifted_share=1.0, top_features=0, weighted_score=threshold)
    verdict = window_verdict(features("b", "c"), None, SHARES, thresholds)  # 0.25 + 0.125
    assert verdict["weighted_score"] == 0.375
    assert fired(verdict)["weighted_score"] is expected
    assert verdict["dataset_drift"] is expected
    assert "carry 38% of the model's importance" in verdict["rules"][2]["detail"]


def test_prediction_drift_is_a_rule_but_not_dataset_drift() -> None:
    prediction = {"drifted": True, "reasons": ["PSI 0.400 >= 0.2"]}
    verdict = window_verdict(features(), prediction, SHARES, DriftThresholds())
    assert fired(verdict) == {
        "drifted_share": False,
        "important_feature": False,
        "weighted_score": False,
        "prediction_drift": True,
    }
    assert verdict["dataset_drift"] is False
    status, reason = version_status(rows=500, min_rows=200, drift=verdict, performance=None)
    assert status is Status.DRIFT and reason == "the predictions drifted: PSI 0.400 >= 0.2"
    quiet = window_verdict(features(), {"drifted": False, "reasons": []}, SHARES, DriftThresholds())
    assert version_status(rows=500, min_rows=200, drift=quiet, performance=None)[0] is Status.OK


def test_without_recorded_importance_only_the_share_and_prediction_rules_apply() -> None:
    verdict = window_verdict(features("a"), None, None, DriftThresholds())
    assert verdict["weighted_score"] is None and not verdict["dataset_drift"]
    assert all(
        "not evaluated" in r["detail"] for r in verdict["rules"] if r["rule"] != "drifted_share"
    )
    assert importance_shares({}, list(SHARES)) is None
    assert importance_shares({"feature_importance": {"shares": {"a": 0.0}}}, ["a"]) is None
    assert importance_shares(
        {"feature_importance": {"shares": {"a": 3.0, "b": -1.0, "c": 1.0}}}, ["a", "b", "c"]
    ) == {"a": 0.75, "b": 0.0, "c": 0.25}


def test_two_strong_drifts_among_thirty_features_make_the_window_drift() -> None:
    """Two drifted inputs of thirty never reach a 50 % share; they count when they matter."""
    names = [f"f{i}" for i in range(30)]
    shares = {n: 1 / 30 for n in names} | {"f3": 0.2, "f17": 0.1}
    drifted = {n: {"drifted": n in ("f3", "f17"), "reasons": []} for n in names}
    verdict = window_verdict(drifted, None, importance_shares(
        {"feature_importance": {"shares": shares}}, names), DriftThresholds())  # fmt: skip
    assert fired(verdict)["drifted_share"] is False
    assert fired(verdict)["important_feature"] is True and verdict["dataset_drift"]


@pytest.mark.parametrize(("override", "expected"), [(None, True), (0.3, False)])
def test_a_per_feature_override_changes_that_features_verdict(
    override: float | None, expected: bool
) -> None:
    rng = np.random.default_rng(8)
    baseline = numeric_baseline(rng.normal(0, 1, 20_000))
    acc = NumericAccumulator.for_baseline(baseline)
    acc.add(rng.normal(0.5, 1, 5_000))  # PSI ~ 0.25, a 0.5 sd shift
    overrides = {} if override is None else {"x": {"psi": override, "wasserstein": 5.0}}
    own = feature_thresholds(DriftThresholds(), overrides, "x")
    result = numeric_drift(baseline, acc, own)
    assert 0.2 <= result["psi"] < 0.3
    assert result["drifted"] is expected
    used = thresholds_used("numeric", own)
    assert used["psi"] == (override or 0.2) and set(used) == {
        "psi",
        "p_value",
        "wasserstein",
        "missing_share_change",
    }
    equal = feature_thresholds(DriftThresholds(), {"x": {"psi": result["psi"]}}, "x")
    assert "PSI" in " ".join(numeric_drift(baseline, acc, equal)["reasons"])


def test_drift_threshold_flags_are_parsed_and_checked() -> None:
    parsed = parse_drift_thresholds(["price=psi:0.3,wasserstein:0.5", "plan=unseen_share:0.1"])
    assert parsed == {"price": {"psi": 0.3, "wasserstein": 0.5}, "plan": {"unseen_share": 0.1}}
    assert check_drift_thresholds(parsed, ["price", "plan"]) == parsed
    for bad in ("price", "price=psi", "price=psi:x", "price=ks:0.1", "=psi:0.1"):
        with pytest.raises(UsageError, match="drift-threshold"):
            parse_drift_thresholds([bad])
    with pytest.raises(UsageError, match="'colour' is not a feature"):
        check_drift_thresholds({"colour": {"psi": 0.3}}, ["price"])
    with pytest.raises(UsageError, match="p_value must be between 0 and 1"):
        check_drift_thresholds({"price": {"p_value": 1.5}}, ["price"])


def test_training_job_stores_permutation_importance_on_the_holdout() -> None:
    importance = trained_model("binary").metadata["feature_importance"]
    assert importance["method"] == "permutation" and importance["metric"] == "roc_auc"
    assert importance["rows"] == len(trained_model("binary").holdout)
    assert sum(importance["shares"].values()) == pytest.approx(1.0)
    ranked = sorted(importance["shares"], key=lambda n: -importance["shares"][n])
    # The churn data's label depends on tenure, contract and support calls, not on age.
    assert {"tenure_months", "contract"} & set(ranked[:3])
    assert importance["shares"]["age"] < importance["shares"][ranked[0]]


@pytest.mark.parametrize("override", [False, True])
def test_monitor_uses_the_versions_importance_and_overrides(
    local_stack: LocalStack, s3: Any, registry: ModelRegistry, override: bool
) -> None:
    trained = trained_model("binary")
    names = list(trained.spec.schema.feature_names)
    # Only monthly_charges matters to this version, so its drift alone must count.
    metadata = {
        **trained.metadata,
        "feature_importance": {"shares": {n: float(n == "monthly_charges") for n in names}},
    }
    if override:
        metadata["drift_thresholds"] = {
            "monthly_charges": {"psi": 50.0, "wasserstein": 50.0},
            "total_charges": {"psi": 50.0, "wasserstein": 50.0},
        }
    publish_trained(
        dataclasses.replace(trained, metadata=metadata),
        registry=registry,
        promote="force",
        progress=Progress(io.StringIO()),
    )
    writer = CaptureWriter(s3, local_stack.bucket, registry)
    writer.predictions(churn(600, seed=31, numeric_shift=40.0))
    report = make_monitor(local_stack, RETRAINING_ENABLED="false").run(
        Window.from_event(WINDOW_EVENT, window_minutes=60)
    )
    drift = report["drift"]
    feature = drift["features"]["monthly_charges"]
    assert feature["importance"] == 1.0
    assert feature["threshold"]["psi"] == (50.0 if override else 0.2)
    assert feature["drifted"] is not override
    rules = {r["rule"]: r for r in drift["rules"]}
    assert list(rules) == [
        "drifted_share",
        "important_feature",
        "weighted_score",
        "prediction_drift",
    ]
    assert rules["important_feature"]["fired"] is not override
    assert rules["weighted_score"]["fired"] is not override
    if not override:
        assert report["status"] == "DRIFT" and drift["dataset_drift"]
        assert "monthly_charges (100%)" in report["status_reason"]
        assert drift["weighted_score"] == 1.0


def test_the_demos_drifted_window_without_labels_is_drift_and_retrains(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    """The demo's second window (shifted charges, a new plan, a changed concept), with every
    label withheld: no performance can be measured, the drift verdict alone must act."""
    from demo.loop import LoopConfig

    config = LoopConfig()
    frame = churn(
        config.rows_per_window[1],
        seed=config.seed + 2,
        numeric_shift=config.numeric_shift,
        new_category_share=config.new_category_share,
        concept_drift=config.concept_drift,
    )
    writer.predictions(frame)  # no feedback at all
    report = make_monitor(local_stack).run(Window.from_event(WINDOW_EVENT, window_minutes=60))
    assert report["counts"]["labeled"] == 0 and report["performance"] is None
    assert report["status"] == "DRIFT", report["status_reason"]
    fired_rules = [r["rule"] for r in report["drift"]["rules"] if r["fired"]]
    # 3 of 8 features drifted: the share rule alone would have called this window OK.
    assert "drifted_share" not in fired_rules and "important_feature" in fired_rules
    assert report["retraining"]["triggered"] is True and report["retraining"]["job_id"]
