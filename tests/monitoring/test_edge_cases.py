"""Windows that must give a status, never an exception or NaN."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from embedded_aws.provision import LocalStack
from modelops.baseline import categorical_baseline, numeric_baseline
from modelops.monitoring.accumulators import CategoricalAccumulator, NumericAccumulator
from modelops.monitoring.drift import DriftThresholds, categorical_drift, numeric_drift
from modelops.monitoring.window import Window
from modelops.registry import ModelRegistry
from tests.models import publish_trained
from tests.monitoring.conftest import (
    WINDOW_EVENT,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)


def run(local_stack: LocalStack, **overrides: str) -> dict[str, Any]:
    report = make_monitor(local_stack, **overrides).run(
        Window.from_event(WINDOW_EVENT, window_minutes=60)
    )
    json.dumps(report, allow_nan=False)  # strict JSON, always
    return report


def test_empty_window_is_insufficient_data(local_stack: LocalStack, writer: CaptureWriter) -> None:
    report = run(local_stack)
    assert report["status"] == "INSUFFICIENT_DATA"
    assert report["status_reason"] == "no captured predictions in the window"
    assert report["counts"]["predictions"] == 0
    assert report["model"] == {"name": "churn", "version": 1}  # the champion
    assert report["drift"]["features"] == {} and report["performance"] is None
    assert report["retraining"]["triggered"] is False


def test_too_few_rows_is_insufficient_data(local_stack: LocalStack, writer: CaptureWriter) -> None:
    frame = churn(50, seed=21, numeric_shift=40.0)
    ids = writer.predictions(frame)
    writer.feedback(ids, truth(frame), received=WINDOW_START + timedelta(hours=2))
    report = run(local_stack, MONITOR_MIN_ROWS="100")
    assert report["status"] == "INSUFFICIENT_DATA"
    assert "50 rows" in report["status_reason"]
    assert report["performance"]["labeled"] == 50  # still reported, not judged
    assert report["retraining"]["triggered"] is False


def test_constant_all_missing_and_only_unseen_columns(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(400, seed=22)
    frame["age"] = 40.0
    frame["tenure_months"] = np.nan
    frame["plan"] = "enterprise"
    writer.predictions(frame)
    report = run(local_stack, RETRAINING_ENABLED="false")
    features = report["drift"]["features"]
    assert (
        features["tenure_months"]["drifted"]
        and features["tenure_months"]["missing_share"]["current"] == 1.0
    )
    assert features["tenure_months"]["psi"] == 0.0  # no present values: the missing share says it
    assert features["age"]["drifted"] and features["age"]["current"]["std"] == 0.0
    assert features["plan"]["drifted"] and features["plan"]["unseen_share"] == 1.0
    assert report["status"] == "DRIFT"


def test_rows_from_two_versions_are_monitored_against_their_own_baselines(
    local_stack: LocalStack, writer: CaptureWriter, registry: ModelRegistry
) -> None:
    publish_trained(registry, "binary", promote=True)  # version 2
    writer.predictions(churn(500, seed=23), version=1)
    writer.predictions(churn(300, seed=24, numeric_shift=30.0), version=2)
    report = run(local_stack)
    assert set(report["versions"]) == {"1", "2"}
    assert report["versions"]["1"]["rows"] == 500 and report["versions"]["2"]["rows"] == 300
    assert report["model"]["version"] == 1  # the version that served most rows
    v2 = report["versions"]["2"]["drift"]["features"]
    assert (
        v2["monthly_charges"]["drifted"]
        and not report["versions"]["1"]["drift"]["features"]["monthly_charges"]["drifted"]
    )
    assert report["counts"]["predictions"] == 800


def test_rows_of_an_unknown_version_are_counted_not_fatal(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(300, seed=25))
    lines = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")["Contents"]
    body = writer.s3.get_object(Bucket=writer.bucket, Key=lines[0]["Key"])["Body"].read()
    writer.put(
        f"capture/churn/{WINDOW_START:%Y/%m/%d/%H}/", body.replace(b'"version":1', b'"version":9')
    )
    report = run(local_stack)
    assert report["counts"]["unknown_version"] == 300
    assert report["counts"]["predictions"] == 300


def test_drift_of_a_constant_baseline_column_is_finite() -> None:
    thresholds = DriftThresholds()
    baseline = numeric_baseline([5.0] * 100)
    same, moved = (
        NumericAccumulator.for_baseline(baseline),
        NumericAccumulator.for_baseline(baseline),
    )
    same.add(np.full(300, 5.0))
    moved.add(np.full(300, 9.0))
    assert not numeric_drift(baseline, same, thresholds)["drifted"]
    result = numeric_drift(baseline, moved, thresholds)
    assert result["drifted"] and result["wasserstein_normalized"] == pytest.approx(4.0 / 5.0)
    empty = numeric_baseline([None, None])
    acc = NumericAccumulator.for_baseline(empty)
    acc.add(np.array([1.0, 2.0]))
    assert json.dumps(numeric_drift(empty, acc, thresholds), allow_nan=False)


def test_categorical_drift_of_an_empty_window_is_finite() -> None:
    result = categorical_drift(
        categorical_baseline(["a", "b", "b"]), CategoricalAccumulator(), DriftThresholds()
    )
    assert result["drifted"] is False and result["psi"] == 0.0
    json.dumps(result, allow_nan=False)
