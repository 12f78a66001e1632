"""Tree thresholds are exact in float32, so ONNX and scikit-learn split every float32 input
the same way (a parity failure seen in a retraining run: one holdout value lay between a
float64 threshold and its float32 rounding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from modelops.inference import OnnxModel
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops_train.pipeline import align_thresholds_to_float32, build_pipeline, export_onnx

SCHEMA = ModelSchema(
    features=(FeatureSpec("price", FeatureKind.NUMERIC),), task=Task.BINARY, classes=("no", "yes")
)


def ulps_above(value: np.float32, n: int) -> np.float32:
    for _ in range(n):
        value = np.nextafter(value, np.float32(np.inf))
    return value


def a_gap_whose_midpoint_rounds_up() -> tuple[np.float32, np.float32]:
    """Two float32 values 3 ulps apart whose float64 midpoint rounds up in float32: the
    midpoint a scikit-learn tree splits at, and a float32 value just above it that float32
    rounding would send to the other side."""
    for start in np.linspace(10, 100, 50, dtype=np.float32):
        low, high = start, ulps_above(start, 3)
        midpoint = (np.float64(low) + np.float64(high)) / 2
        if np.float64(np.float32(midpoint)) > midpoint:
            return low, high
    raise AssertionError("no such gap found")


def fit(low: np.float32, high: np.float32) -> tuple[Pipeline, pd.DataFrame]:
    prices = np.array([low] * 60 + [high] * 60, dtype=np.float32)
    labels = np.array(["no"] * 60 + ["yes"] * 60)
    pipeline = build_pipeline(SCHEMA, seed=0).fit(pd.DataFrame({"price": prices}), labels)
    between = np.array([ulps_above(low, 1), ulps_above(low, 2)], dtype=np.float32)
    return pipeline, pd.DataFrame({"price": between})


def test_float32_rounding_of_a_threshold_would_split_differently() -> None:
    """Without the alignment, ONNX and scikit-learn disagree on the row above the midpoint
    (this is what the test below guards against)."""
    low, high = a_gap_whose_midpoint_rounds_up()
    pipeline, rows = fit(low, high)
    onnx = OnnxModel(export_onnx(pipeline, SCHEMA), SCHEMA)
    expected = pipeline.predict(rows)
    got = onnx.predict_columns({"price": rows["price"].to_numpy()}).labels
    assert list(expected) == ["no", "yes"]
    assert list(got) == ["no", "no"]


def test_aligned_thresholds_split_like_scikit_learn_without_changing_it() -> None:
    low, high = a_gap_whose_midpoint_rounds_up()
    pipeline, rows = fit(low, high)
    before = pipeline.predict_proba(rows)

    assert align_thresholds_to_float32(pipeline) > 0

    after = pipeline.predict_proba(rows)
    np.testing.assert_array_equal(before, after)  # no decision changed for float32 inputs
    onnx = OnnxModel(export_onnx(pipeline, SCHEMA), SCHEMA)
    predicted = onnx.predict_columns({"price": rows["price"].to_numpy()})
    assert list(predicted.labels) == ["no", "yes"]
    assert predicted.probabilities is not None
    np.testing.assert_allclose(predicted.probabilities, after, atol=1e-6)


def test_other_estimators_are_left_alone() -> None:
    pipeline = build_pipeline(SCHEMA, estimator="linear", seed=0).fit(
        pd.DataFrame({"price": np.arange(40, dtype=np.float32)}), ["no"] * 20 + ["yes"] * 20
    )
    assert align_thresholds_to_float32(pipeline) == 0
