"""Realized against estimated performance over the last windows, for the report's trend chart.

The points come from the JSON reports of the windows before this one, at the keys the
monitor itself writes (same length, back to back), so reading them costs a fixed number of
GETs and no listing. A window never monitored, a report too large, unreadable or of another
shape is left out: the trend is context, never a reason for the report to fail.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from modelops.monitoring.window import Window

logger = logging.getLogger(__name__)

TREND_WINDOWS = 12  # this window and the 11 before it
MAX_REPORT_BYTES = 4 * 1024 * 1024  # a report is tens of KB; anything far larger is not one


def trend_point(report: dict[str, Any]) -> dict[str, Any]:
    """One window's point: its primary metric realized (labels) and estimated (no labels)."""
    performance = report.get("performance") or {}
    estimate = report.get("estimated_performance") or {}
    metric = performance.get("primary_metric") or estimate.get("primary_metric")
    realized = _number((performance.get("metrics") or {}).get(metric))
    estimated = _number((estimate.get("metrics") or {}).get(metric))
    if estimated is None and estimate.get("primary_metric") == metric:
        estimated = _number(estimate.get("value"))
    baseline = _number((performance.get("baseline") or {}).get(metric))
    if baseline is None and estimate.get("primary_metric") == metric:
        baseline = _number(estimate.get("baseline"))
    return {
        "window": {"start": report["window"]["start"], "end": report["window"]["end"]},
        "metric": metric,
        "realized": realized,
        "estimated": estimated,
        "status": report.get("status"),
        "baseline": baseline,
    }


def read_trend(
    s3: Any,
    bucket: str,
    window: Window,
    report_key: Callable[[Window], str],
    *,
    model_name: str,
    windows: int = TREND_WINDOWS,
) -> list[dict[str, Any]]:
    """Points of the `windows - 1` windows before `window` that have a report, oldest first
    (at most that many GETs). The caller appends the current window's point."""
    length = window.end - window.start
    points = []
    for back in range(windows - 1, 0, -1):
        earlier = Window(window.start - back * length, window.end - back * length)
        point = _read_point(s3, bucket, report_key(earlier), earlier, model_name)
        if point is not None:
            points.append(point)
    return points


def _read_point(
    s3: Any, bucket: str, key: str, window: Window, model_name: str
) -> dict[str, Any] | None:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        if response.get("ContentLength", 0) > MAX_REPORT_BYTES:
            response["Body"].close()
            logger.warning("trend: %s is larger than %d bytes, left out", key, MAX_REPORT_BYTES)
            return None
        report = json.loads(response["Body"].read())
        if (report.get("model") or {}).get("name") != model_name:
            raise ValueError("not a report of this model")
        if report["window"] != window.as_dict():
            raise ValueError("not the report of this window")
        return trend_point(report)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in {"NoSuchKey", "404", "NotFound"}:
            logger.warning("trend: %s could not be read (%s), left out", key, code)
        return None
    except (BotoCoreError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("trend: %s is not a readable report (%s), left out", key, exc)
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
