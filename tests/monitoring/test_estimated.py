"""Performance estimated without labels, in the monitor: reported on every classification
window, next to the realized metric when labels exist, and DEGRADED from the estimate alone
while labels are fewer than the minimum."""

from __future__ import annotations

import dataclasses
import io
import math
from datetime import timedelta
from typing import Any

import numpy as np

from embedded_aws.provision import LocalStack
from modelops.estimation.accumulator import EstimationAccumulator
from modelops.estimation.calibration import CalibrationMap
from modelops.estimation.cbpe import DEFAULT_CONFIDENCE
from modelops.estimation.verdict import estimated_performance
from modelops.monitoring.report import Status, version_status
from modelops.monitoring.window import Window
from modelops.registry import ModelRegistry
from modelops.schema import Task
from modelops_train.api import publish_trained
from modelops_train.progress import Progress
from tests.models import trained_model
from tests.monitoring.conftest import (
    WINDOW_EVENT,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)


def run(local_stack: LocalStack, **overrides: str) -> dict[str, Any]:
    monitor = make_monitor(local_stack, RETRAINING_ENABLED="false", **overrides)
    return monitor.run(Window.from_event(WINDOW_EVENT, window_minutes=60))


def test_an_unlabeled_window_gets_an_estimate_with_a_band(
    local_stack: LocalStack, writer: CaptureWriter, binary_champion: dict[str, Any]
) -> None:
    writer.predictions(churn(1_200, seed=41))
    report = run(local_stack)
    estimate = report["estimated_performance"]
    assert report["performance"] is None  # no labels: the realized metric stays null
    assert estimate == report["versions"]["1"]["estimated_performance"]
    assert estimate["method"] == "CBPE" and estimate["primary_metric"] == "roc_auc"
    assert estimate["rows"] == 1_200 and estimate["unscored"] == 0
    assert estimate["lower"] < estimate["value"] < estimate["upper"]
    assert estimate["confidence"] == DEFAULT_CONFIDENCE
    assert set(estimate["metrics"]) == {"roc_auc", "accuracy", "f1"}
    assert estimate["value"] == estimate["metrics"]["roc_auc"]
    # compared with the realized metric on the training holdout, like realized performance
    assert estimate["baseline"] == trained_model("binary").metrics["roc_auc"]
    assert estimate["used_for_status"] is True
    assert abs(estimate["value"] - estimate["baseline"]) < 0.05  # data like the training data
    assert report["status"] == "OK" and estimate["degraded"] is False


def test_degraded_from_the_estimate_at_the_tolerance_boundary(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(1_000, seed=42, missing_share=0.6))
    first = run(local_stack, PERFORMANCE_TOLERANCE="0.5")["estimated_performance"]
    value, baseline = first["value"], first["baseline"]
    assert value < baseline  # this shift lowers the estimate: the rule has something to judge
    worse_share = (baseline - value) / baseline
    above = run(local_stack, PERFORMANCE_TOLERANCE=repr(worse_share * 1.001))
    below = run(local_stack, PERFORMANCE_TOLERANCE=repr(worse_share * 0.999))
    assert above["estimated_performance"]["degraded"] is False
    assert above["status"] != "DEGRADED"
    assert below["estimated_performance"]["degraded"] is True
    assert below["status"] == "DEGRADED"
    assert below["status_reason"].startswith("estimated roc_auc ")
    assert "no labels needed" in below["status_reason"]


def test_the_rule_is_strict_at_equality() -> None:
    calibrated = estimated_performance(
        Task.BINARY, _accumulator(), baseline={"roc_auc": 0.5}, tolerance=0.0
    )
    value = calibrated["value"]
    for reference, degraded in (
        (value, False),
        (math.nextafter(value, 2.0), True),
        (math.nextafter(value, 0.0), False),
    ):
        block = estimated_performance(
            Task.BINARY, _accumulator(), baseline={"roc_auc": reference}, tolerance=0.0
        )
        assert block["degraded"] is degraded, reference
        status, reason = version_status(
            rows=500, min_rows=200, drift=None, performance=None, estimate=block
        )
        assert (status is Status.DEGRADED) is degraded
        assert reason.startswith("estimated ") is degraded


def _accumulator() -> EstimationAccumulator:
    rng = np.random.default_rng(43)
    score = rng.random(2_000)
    acc = EstimationAccumulator(
        CalibrationMap(("0", "1"), {"1": (np.array([0.0, 1.0]), np.array([0.1, 0.9]))}),
        classes=(0, 1),
    )
    acc.add((score >= 0.5).astype(int), np.column_stack((1 - score, score)))
    return acc


def test_with_enough_labels_the_realized_metric_decides(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(900, seed=44, missing_share=0.6)
    ids = writer.predictions(frame)
    writer.feedback(ids[:120], truth(frame)[:120], received=WINDOW_START + timedelta(hours=2))
    # A tolerance the estimate fails: it decides only while labels are below the minimum.
    probe = run(local_stack, MONITOR_MIN_LABELED_ROWS="121")["estimated_performance"]
    tolerance = repr((probe["baseline"] - probe["value"]) / probe["baseline"] * 0.5)
    at_minimum = run(local_stack, MONITOR_MIN_LABELED_ROWS="120", PERFORMANCE_TOLERANCE=tolerance)
    below_minimum = run(
        local_stack, MONITOR_MIN_LABELED_ROWS="121", PERFORMANCE_TOLERANCE=tolerance
    )
    for report in (at_minimum, below_minimum):
        assert report["performance"]["labeled"] == 120
        assert report["estimated_performance"]["degraded"] is True
        assert report["performance"]["metrics"]["roc_auc"] > 0.5  # reported side by side
    assert at_minimum["estimated_performance"]["used_for_status"] is False
    assert not at_minimum["status_reason"].startswith("estimated ")
    assert below_minimum["estimated_performance"]["used_for_status"] is True
    assert below_minimum["status"] == "DEGRADED"
    assert below_minimum["status_reason"].startswith("estimated ")


def test_forked_workers_give_exactly_the_single_pass_estimate(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(900, seed=45), objects=5)
    one = run(local_stack, MONITOR_WORKERS="1")["estimated_performance"]
    three = run(local_stack, MONITOR_WORKERS="3")["estimated_performance"]
    assert one == three
    assert one["rows"] == 900


def test_a_version_without_a_calibration_map_is_said_to_have_no_estimate(
    local_stack: LocalStack, registry: ModelRegistry, writer: CaptureWriter
) -> None:
    trained = trained_model("binary")
    metadata = {k: v for k, v in trained.metadata.items() if k != "calibration"}
    old = publish_trained(
        dataclasses.replace(trained, metadata=metadata),
        registry=registry,
        promote="force",
        progress=Progress(io.StringIO()),
    )
    writer.predictions(churn(600, seed=46), version=old.version)
    report = run(local_stack)
    estimate = report["estimated_performance"]
    assert estimate["method"] is None and estimate["value"] is None
    assert estimate["reason"].startswith(f"version {old.version} has no calibration map")
    assert report["status"] == "OK"
