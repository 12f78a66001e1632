"""The calibration map: fitted by the training job, stored in metadata, applied with numpy."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from modelops.estimation.accumulator import for_version
from modelops.estimation.calibration import CalibrationError, CalibrationMap
from modelops.estimation.verdict import REGRESSION_REASON, estimated_performance
from modelops.schema import ModelSchema, Task
from modelops_train.calibration import fit_calibration, isotonic_knots
from tests.models import trained_model


def test_scikit_learn_isotonic_thresholds_apply_as_scikit_learn_predicts() -> None:
    rng = np.random.default_rng(10)
    positive = rng.random(2_000)
    truth = rng.random(2_000) < positive**2
    regression = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(positive, truth)
    stored = {
        "method": "isotonic",
        "classes": {
            "1": {"x": regression.X_thresholds_.tolist(), "y": regression.y_thresholds_.tolist()}
        },
    }
    fresh = rng.random(3_000) * 1.2 - 0.1
    applied = CalibrationMap.from_metadata(stored, (0, 1)).apply(
        np.column_stack((1 - fresh, fresh))
    )
    assert np.allclose(applied[:, 1], regression.predict(fresh), atol=1e-12)


def test_binary_map_round_trips_through_metadata_and_predicts_as_scikit_learn_isotonic() -> None:
    rng = np.random.default_rng(11)
    positive = rng.random(3_000) ** 2
    truth = np.where(rng.random(3_000) < np.sqrt(positive), "yes", "no")
    scores = np.column_stack((1.0 - positive, positive))
    fitted = fit_calibration(scores, truth, ("no", "yes"))
    stored = json.loads(json.dumps(fitted.as_metadata(), allow_nan=False))
    loaded = CalibrationMap.from_metadata(stored, ("no", "yes"))
    assert stored["method"] == "isotonic"
    assert set(stored["classes"]) == {"yes"} and stored["rows"] == 3_000
    fresh = rng.random(5_000) * 1.2 - 0.1  # also outside the fitted range: clipped
    fresh_scores = np.column_stack((1.0 - fresh, fresh))
    # What scikit-learn's isotonic regression, fitted on the same rows, predicts.
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    reference.fit(positive, truth == "yes")
    assert np.allclose(loaded.apply(fresh_scores)[:, 1], reference.predict(fresh), atol=1e-12)
    assert np.all(np.diff(stored["classes"]["yes"]["x"]) > 0)
    # calibrated: on the holdout itself, each step's value is the share of positives in it
    on_holdout = loaded.apply(scores)[:, 1]
    for value in np.unique(on_holdout):
        rows = on_holdout == value
        assert np.isclose(value, np.mean(truth[rows] == "yes"), atol=1e-9)
    assert np.allclose(loaded.apply(fresh_scores).sum(axis=1), 1.0)
    assert np.array_equal(loaded.apply(fresh_scores), fitted.apply(fresh_scores))


def test_multiclass_map_is_one_vs_rest_and_renormalised() -> None:
    rng = np.random.default_rng(12)
    scores = rng.dirichlet([1.0, 1.0, 1.0], 2_000)
    truth = (
        rng.random(2_000)[:, None]
        > np.cumsum(scores**1.5 / (scores**1.5).sum(1, keepdims=True), axis=1)
    ).sum(axis=1)
    fitted = fit_calibration(scores, truth, (0, 1, 2))
    loaded = CalibrationMap.from_metadata(json.loads(json.dumps(fitted.as_metadata())), [0, 1, 2])
    calibrated = loaded.apply(scores)
    assert set(fitted.as_metadata()["classes"]) == {"0", "1", "2"}
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    raw = np.column_stack(
        [np.interp(scores[:, c], *isotonic_knots(scores[:, c], truth == c)) for c in range(3)]
    )
    assert np.allclose(calibrated, raw / raw.sum(axis=1, keepdims=True), atol=1e-12)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.update(method="platt"), "calibration method must be one of centered_isotonic"),
        (lambda m: m["classes"].pop("yes"), "no curve for class 'yes'"),
        (lambda m: m["classes"]["yes"].update(x=[0.5, 0.2]), "x must increase"),
        (lambda m: m["classes"]["yes"].update(y=[0.0, 1.5]), "y lie in [0, 1]"),
        (lambda m: m["classes"]["yes"].update(y=[0.0]), "equally long"),
        (lambda m: m["classes"]["yes"].update(x=["a", "b"]), "numeric arrays"),
    ],
)
def test_a_malformed_map_is_refused_with_the_problem_named(change: Any, problem: str) -> None:
    good = {"method": "isotonic", "classes": {"yes": {"x": [0.2, 0.5], "y": [0.0, 1.0]}}}
    CalibrationMap.from_metadata(good, ("no", "yes"))
    change(good)
    with pytest.raises(CalibrationError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        CalibrationMap.from_metadata(good, ("no", "yes"))


def test_the_training_job_stores_a_map_for_classifiers_only() -> None:
    binary = trained_model("binary")
    stored = json.loads(json.dumps(binary.metadata["calibration"]))
    assert stored["method"] == "isotonic" and set(stored["classes"]) == {"yes"}
    assert stored["rows"] == len(binary.y_holdout)
    schema = ModelSchema.from_metadata(binary.metadata)
    acc, reason = for_version(1, binary.metadata, schema)
    assert acc is not None and reason == ""
    multiclass = trained_model("multiclass")
    assert set(multiclass.metadata["calibration"]["classes"]) == {"0", "1", "2"}
    regression = trained_model("regression")
    assert "calibration" not in regression.metadata
    acc, reason = for_version(
        1, regression.metadata, ModelSchema.from_metadata(regression.metadata)
    )
    assert acc is None and reason == REGRESSION_REASON


def test_versions_without_a_map_or_with_a_broken_one_say_so_plainly() -> None:
    metadata = {k: v for k, v in trained_model("binary").metadata.items() if k != "calibration"}
    schema = ModelSchema.from_metadata(metadata)
    acc, reason = for_version(7, metadata, schema)
    assert acc is None
    assert reason.startswith("version 7 has no calibration map")
    block = estimated_performance(schema.task, acc, baseline={}, tolerance=0.05, unavailable=reason)
    assert block == {"method": None, "value": None, "degraded": False, "reason": reason}
    broken = {**metadata, "calibration": {"method": "isotonic", "classes": {}}}
    acc, reason = for_version(7, broken, schema)
    assert acc is None and "no curve for class 'yes'" in reason


def test_regression_gets_no_estimate_in_plain_words() -> None:
    block = estimated_performance(Task.REGRESSION, None, baseline={"rmse": 1.0}, tolerance=0.05)
    assert block["method"] is None and block["value"] is None
    assert block["reason"] == "no label-free estimate is made for regression"


def test_a_centred_map_stored_by_an_earlier_version_still_applies() -> None:
    stored = {
        "method": "centered_isotonic",
        "classes": {"yes": {"x": [0.1, 0.4, 0.8], "y": [0.05, 0.3, 0.9]}},
    }
    applied = CalibrationMap.from_metadata(stored, ("no", "yes")).apply(
        np.array([[0.95, 0.05], [0.75, 0.25], [0.4, 0.6], [0.0, 1.0]])
    )
    assert np.allclose(applied[:, 1], [0.05, 0.175, 0.6, 0.9])
    assert np.allclose(applied[:, 0], 1.0 - applied[:, 1])
