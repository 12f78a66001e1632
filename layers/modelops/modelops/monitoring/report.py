"""Statuses, the report document and its summary (contract section 6).

Status of one model version's rows in the window, first match wins:

INSUFFICIENT_DATA  fewer rows than the minimum: no verdict is drawn from them
DEGRADED           the primary metric fell more than the tolerance below the baseline, or,
                   while labels are fewer than the minimum, its estimate without labels did
                   (the reason then starts with "estimated ")
DRIFT              a drift rule fired (monitoring/verdict.py): drifted share, an important
                   feature, the importance-weighted score, or prediction drift
OK                 none of the above

A window served by several versions gets the most severe status among versions with enough
rows (DEGRADED > DRIFT > OK), INSUFFICIENT_DATA only when no version has enough rows. The
report's top-level model, drift and performance are those of the version that served the
most rows; every version's own block is under `versions`.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from modelops.monitoring.verdict import drift_reason


class Status(StrEnum):
    OK = "OK"
    DRIFT = "DRIFT"
    DEGRADED = "DEGRADED"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


_SEVERITY = {Status.INSUFFICIENT_DATA: 0, Status.OK: 1, Status.DRIFT: 2, Status.DEGRADED: 3}
REPORT_FORMAT_VERSION = 1


def version_status(
    *,
    rows: int,
    min_rows: int,
    drift: dict[str, Any] | None,
    performance: dict[str, Any] | None,
    estimate: dict[str, Any] | None = None,
) -> tuple[Status, str]:
    """The status of one version's rows and the reason for it."""
    if rows < min_rows:
        return (
            Status.INSUFFICIENT_DATA,
            f"{rows} rows in the window, fewer than the minimum {min_rows}",
        )
    if performance is not None and performance.get("degraded"):
        return Status.DEGRADED, str(performance["reason"])
    if estimate is not None and estimate.get("degraded"):
        return Status.DEGRADED, str(estimate["reason"])
    if drift is not None:
        reason = drift_reason(drift)
        if reason is not None:
            return Status.DRIFT, reason
    return Status.OK, "no drift rule fired and no performance degradation"


def overall_status(statuses: list[Status]) -> Status:
    if not statuses:
        return Status.INSUFFICIENT_DATA
    return max(statuses, key=_SEVERITY.__getitem__)


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """What the function returns and what the RetrainingRequested event carries: the report
    without per-feature detail (features keep drifted, method, score and reasons)."""
    drift = report.get("drift")
    summary_drift = None
    if drift is not None:
        summary_drift = {
            "dataset_drift": drift["dataset_drift"],
            "drifted_share": drift["drifted_share"],
            "weighted_score": drift.get("weighted_score"),
            "rules": drift.get("rules") or [],
            "features": {
                name: {k: f[k] for k in ("drifted", "method", "score", "reasons")}
                for name, f in drift["features"].items()
            },
        }
        if drift.get("prediction") is not None:
            p = drift["prediction"]
            summary_drift["prediction"] = {
                k: p[k] for k in ("drifted", "method", "score", "reasons")
            }
    performance = report.get("performance")
    summary_performance = None
    if performance is not None:
        summary_performance = {
            k: performance.get(k)
            for k in (
                "metrics",
                "baseline",
                "primary_metric",
                "label_coverage",
                "degraded",
                "reason",
            )
        }
    estimate = report.get("estimated_performance")
    summary_estimate = None
    if estimate is not None:
        summary_estimate = {
            k: estimate.get(k)
            for k in ("method", "primary_metric", "value", "lower", "upper", "degraded", "reason")
        }
    return {
        "model": report["model"],
        "window": report["window"],
        "status": report["status"],
        "status_reason": report["status_reason"],
        "counts": report["counts"],
        "drift": summary_drift,
        "performance": summary_performance,
        "estimated_performance": summary_estimate,
        "rollout": report.get("rollout"),
        "versions": {
            v: {"status": b["status"], "rows": b["rows"]} for v, b in report["versions"].items()
        },
        "retraining": report.get("retraining"),
        "reports": report.get("reports"),
    }


def strict_json_ready(value: Any) -> Any:
    """The value with numpy scalars as Python numbers and any non-finite float as None, so
    json.dumps(..., allow_nan=False) always succeeds (a report must be strict JSON)."""
    if isinstance(value, dict):
        return {str(k): strict_json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_ready(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iub":
        return int(value) if value.dtype.kind != "b" else bool(value)
    return number if math.isfinite(number) else None
