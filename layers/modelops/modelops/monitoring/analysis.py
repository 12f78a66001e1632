"""From a merged scan to the window's report: statistics, verdicts and status per version.

The second half of a monitoring run (the first is modelops.monitoring.scanning): given the
scan's merged state, every statistic, the drift verdict, realized and estimated
performance and the status of each model version, and the report document around them.
Acting on the report (rollout decision, retraining) and writing it are the Monitor's.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from modelops.estimation.verdict import estimated_performance
from modelops.monitoring.objects import iso_millis
from modelops.monitoring.performance import evaluate
from modelops.monitoring.report import (
    REPORT_FORMAT_VERSION,
    Status,
    overall_status,
    version_status,
)
from modelops.monitoring.settings import MonitorSettings
from modelops.monitoring.verdict import version_drift
from modelops.monitoring.window import VersionWindow, Window, WindowScan


def analyse_version(part: VersionWindow, settings: MonitorSettings) -> dict[str, Any]:
    """Drift, performance and status of one version's rows."""
    drift = version_drift(part, settings.drift) if part.rows >= settings.min_rows else None
    baseline = part.baseline.get("performance") or part.metadata.get("metrics") or {}
    performance = evaluate(
        part.schema,
        part.labeled,
        rows=part.rows,
        baseline=baseline,
        thresholds=settings.performance,
    )
    estimate = estimated_performance(
        part.schema.task,
        part.estimation,
        baseline=baseline,
        tolerance=settings.performance.tolerance,
        unavailable=part.estimation_unavailable,
    )
    # The estimate decides only while labels are too few for the realized metric to.
    estimate["used_for_status"] = (
        performance is None or performance["labeled"] < settings.performance.min_labeled
    )
    status, reason = version_status(
        rows=part.rows,
        min_rows=settings.min_rows,
        drift=drift,
        performance=performance,
        estimate=estimate if estimate["used_for_status"] else None,
    )
    return {
        "version": part.version,
        "status": status.value,
        "status_reason": reason,
        "rows": part.rows,
        "labeled": part.labeled.seen,
        "task": part.schema.task.value,
        "drift": drift,
        "performance": performance,
        "estimated_performance": estimate,
    }


def window_report(
    scan: WindowScan,
    settings: MonitorSettings,
    *,
    objects: int,
    dead_letters: int,
    champion_version: int | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """The report of the window's scan, before acting on it (no rollout, retraining, trend
    or report locations yet). `champion_version` names the model when nothing was served."""
    versions = {
        str(v): analyse_version(part, settings) for v, part in sorted(scan.versions.items())
    }
    status = overall_status([Status(b["status"]) for b in versions.values()])
    primary = max(versions.values(), key=lambda b: (b["rows"], b["version"])) if versions else None
    if primary is None:
        version = champion_version
        reason = "no captured predictions in the window"
    else:
        version = primary["version"]
        reason = (
            primary["status_reason"]
            if Status(primary["status"]) is status
            else next(
                f"version {b['version']}: {b['status_reason']}"
                for b in versions.values()
                if b["status"] == status.value
            )
        )
    return {
        "report_format_version": REPORT_FORMAT_VERSION,
        "model": {"name": scan.model_name, "version": version},
        "window": scan.window.as_dict(),
        "generated_at": iso_millis(generated_at),
        "status": status.value,
        "status_reason": reason,
        "counts": {
            "predictions": scan.predictions,
            "labeled": scan.labeled,
            "malformed": scan.malformed,
            "outside_window": scan.outside_window,
            "unknown_version": sum(scan.unknown_version.values()),
            "feedback_indexed": len(scan.feedback),
            "feedback_malformed": scan.feedback.malformed,
            "capture_objects": objects,
            # Spilled by PredictFunction, waiting for a replay (any window).
            "capture_dead_letters": dead_letters,
        },
        "drift": primary["drift"] if primary and primary["drift"] else no_drift(),
        "performance": primary["performance"] if primary else None,
        "estimated_performance": primary["estimated_performance"] if primary else None,
        "versions": versions,
        "thresholds": {
            "min_rows": settings.min_rows,
            "drift": asdict(settings.drift),
            "performance": asdict(settings.performance),
        },
    }


def report_prefix(model_name: str, window: Window) -> str:
    """Where a window's report.json and report.html live."""
    return f"reports/{model_name}/windows/{window.start:%Y/%m/%d}/{window.key}/"


def no_drift() -> dict[str, Any]:
    return {
        "dataset_drift": False,
        "drifted_share": 0.0,
        "drifted_features": [],
        "weighted_score": None,
        "rules": [],
        "features": {},
        "prediction": None,
    }
