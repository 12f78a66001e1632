"""The monitor's CloudWatch metrics, as Embedded Metric Format through Powertools Metrics.

Namespace ModelOps (contract section 8). Window-level metrics carry the dimension
ModelName only, so alarms keep matching when a new version is promoted; the version that
served the rows is recorded as EMF metadata (searchable in Logs Insights, not a dimension).
Per-feature drift scores add the Feature dimension, model metrics the Metric dimension.
Every name is documented in docs/METRICS.md (Monitoring).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit


def publish_metrics(metrics: Metrics, report: dict[str, Any]) -> None:
    """Add the report's metrics to `metrics` (flushed by the handler's log_metrics) and emit
    the per-feature and per-metric ones at once (they need their own dimension sets)."""
    name = report["model"]["name"]
    counts = report["counts"]
    drift = report["drift"]
    performance = report.get("performance")
    metrics.add_dimension(name="ModelName", value=name)
    metrics.add_metadata(key="ModelVersion", value=str(report["model"]["version"]))
    metrics.add_metadata(key="window", value=report["window"])
    metrics.add_metric(name="MonitorRows", unit=MetricUnit.Count, value=counts["predictions"])
    metrics.add_metric(
        name="MonitorMalformedRecords", unit=MetricUnit.Count, value=counts["malformed"]
    )
    metrics.add_metric(name="MonitorLabeledRows", unit=MetricUnit.Count, value=counts["labeled"])
    metrics.add_metric(
        name="CaptureDeadLetters",
        unit=MetricUnit.Count,
        value=counts.get("capture_dead_letters", 0),
    )
    coverage = counts["labeled"] / counts["predictions"] if counts["predictions"] else 0.0
    metrics.add_metric(name="LabelCoverage", unit=MetricUnit.NoUnit, value=coverage)
    metrics.add_metric(
        name="DriftedFeatureShare", unit=MetricUnit.NoUnit, value=drift["drifted_share"]
    )
    metrics.add_metric(
        name="DatasetDrift", unit=MetricUnit.Count, value=1 if drift["dataset_drift"] else 0
    )
    prediction = drift.get("prediction")
    metrics.add_metric(
        name="PredictionDrift",
        unit=MetricUnit.Count,
        value=1 if prediction and prediction["drifted"] else 0,
    )
    metrics.add_metric(
        name="PerformanceDegraded",
        unit=MetricUnit.Count,
        value=1 if report["status"] == "DEGRADED" else 0,
    )
    metrics.add_metric(
        name="InsufficientData",
        unit=MetricUnit.Count,
        value=1 if report["status"] == "INSUFFICIENT_DATA" else 0,
    )
    retraining = report.get("retraining") or {}
    metrics.add_metric(
        name="RetrainingTriggered",
        unit=MetricUnit.Count,
        value=1 if retraining.get("triggered") else 0,
    )
    # A refused or failed SubmitJob: the window's marker says "failed" and the next run of
    # the window retries (docs/MONITORING.md); RetrainingSubmitFailuresAlarm tells on-call.
    metrics.add_metric(
        name="RetrainingSubmitFailures",
        unit=MetricUnit.Count,
        value=1 if retraining.get("submit_error") else 0,
    )
    estimate = report.get("estimated_performance") or {}
    if estimate.get("value") is not None:
        # Window-level like the rest: ModelName only, so one alarm survives promotions.
        for metric_name, key in (
            ("EstimatedPrimaryMetric", "value"),
            ("EstimatedPrimaryMetricLower", "lower"),
            ("EstimatedPrimaryMetricUpper", "upper"),
        ):
            if estimate.get(key) is not None:
                metrics.add_metric(name=metric_name, unit=MetricUnit.NoUnit, value=estimate[key])
        metrics.add_metric(
            name="EstimatedPerformanceDegraded",
            unit=MetricUnit.Count,
            value=1 if estimate.get("degraded") else 0,
        )
    base = {"ModelName": name}
    for feature, result in drift["features"].items():
        _single(metrics, "FeatureDriftScore", result["score"], {**base, "Feature": feature})
    if performance:
        for metric, value in performance["metrics"].items():
            _single(metrics, "ModelPerformance", value, {**base, "Metric": metric})
        for metric, value in performance["baseline"].items():
            _single(metrics, "ModelPerformanceBaseline", value, {**base, "Metric": metric})
    _rollout(metrics, report.get("rollout") or {}, base)


def _rollout(metrics: Metrics, rollout: dict[str, Any], base: dict[str, str]) -> None:
    """Champion vs challenger of a window with a running challenger: the primary metric and
    scoring time per version (dimension Role), the test's difference and bounds, agreement,
    the challenger's failed rows, and the decision (RolloutPromotions or RolloutRejections: 1)."""
    decision = rollout.get("decision")
    if not decision:
        return
    stats = decision.get("statistics") or {}
    comparison = rollout.get("comparison") or {}
    for role in ("champion", "challenger"):
        side = comparison.get(role) or {}
        dimensions = {**base, "Role": role}
        value = (side.get("metrics") or {}).get(stats.get("metric"))
        if value is not None:
            _single(metrics, "RolloutPrimaryMetric", value, dimensions)
        latency = (side.get("latency_ms") or {}).get("p50")
        if latency is not None:
            _single(metrics, "RolloutScoringLatencyP50", latency, dimensions)
    test = stats.get("test") or {}
    for name, key in (
        ("RolloutDifference", "difference"),
        ("RolloutDifferenceLower", "lower"),
        ("RolloutDifferenceUpper", "upper"),
    ):
        if test.get(key) is not None:
            metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=test[key])
    if stats.get("agreement") is not None:
        metrics.add_metric(
            name="RolloutAgreement", unit=MetricUnit.NoUnit, value=stats["agreement"]
        )
    metrics.add_metric(
        name="RolloutChallengerErrors",
        unit=MetricUnit.Count,
        value=stats.get("challenger_errors") or 0,
    )
    action = (rollout.get("outcome") or {}).get("action")
    metrics.add_metric(
        name="RolloutPromotions", unit=MetricUnit.Count, value=1 if action == "promoted" else 0
    )
    metrics.add_metric(
        name="RolloutRejections", unit=MetricUnit.Count, value=1 if action == "rejected" else 0
    )


def _single(metrics: Metrics, name: str, value: float, dimensions: dict[str, str]) -> None:
    """One metric with its own dimension set, flushed at once. EphemeralMetrics with
    service="" (like modelops.observability): single_metric would add a `service` dimension."""
    one = EphemeralMetrics(namespace=metrics.namespace, service="")
    for key, dim in dimensions.items():
        one.add_dimension(name=key, value=dim)
    one.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
    one.flush_metrics()
