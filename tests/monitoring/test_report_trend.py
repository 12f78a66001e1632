"""The trend: points read from the reports of the windows before this one, at most 11 GETs
(12 windows with this one), oldest first; missing, malformed or foreign reports left out."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from modelops.monitoring.trend import TREND_WINDOWS, read_trend, trend_point
from modelops.monitoring.window import Window
from tests.conftest import BUCKET, create_bucket
from tests.monitoring.conftest import WINDOW_END, WINDOW_START

HOUR = timedelta(hours=1)
CURRENT = Window(WINDOW_START, WINDOW_END)


def key_of(window: Window) -> str:
    return f"reports/churn/windows/{window.start:%Y/%m/%d}/{window.key}/report.json"


def back(hours: int) -> Window:
    return Window(WINDOW_START - hours * HOUR, WINDOW_END - hours * HOUR)


def report_of(
    window: Window, *, realized: float | None, estimated: float | None, name: str = "churn"
) -> dict[str, Any]:
    return {
        "model": {"name": name, "version": 1},
        "window": window.as_dict(),
        "status": "OK",
        "performance": None
        if realized is None
        else {
            "primary_metric": "roc_auc",
            "metrics": {"roc_auc": realized, "f1": 0.5},
            "baseline": {"roc_auc": 0.8},
        },
        "estimated_performance": None
        if estimated is None
        else {
            "method": "CBPE",
            "primary_metric": "roc_auc",
            "metrics": {"roc_auc": estimated},
            "value": estimated,
            "baseline": 0.8,
        },
    }


class GetCounter:
    def __init__(self, client: Any) -> None:
        self.keys: list[str] = []
        client.meta.events.register("before-parameter-build.s3.GetObject", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.keys.append(params["Key"])


@pytest.fixture
def bucket(s3: Any) -> str:
    """Only the bucket: these tests need no other resource of the stack."""
    return create_bucket(s3, BUCKET)


@pytest.fixture
def client(bucket: str) -> Any:
    """A client of its own, so counting its calls counts only the trend's."""
    return boto3.client("s3")


def put(client: Any, bucket: str, window: Window, body: bytes | dict[str, Any]) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    client.put_object(Bucket=bucket, Key=key_of(window), Body=data)


def test_points_of_earlier_windows_oldest_first_and_bad_ones_left_out(
    client: Any, bucket: str
) -> None:
    for hours in range(1, TREND_WINDOWS + 2):  # one more than is read: 12 hours back
        put(
            client,
            bucket,
            back(hours),
            report_of(back(hours), realized=0.5 + hours / 100, estimated=0.6),
        )
    put(client, bucket, back(2), b"{not json")
    put(
        client,
        bucket,
        back(3),
        report_of(back(3), realized=0.7, estimated=None, name="other-model"),
    )
    put(client, bucket, back(4), report_of(back(5), realized=0.7, estimated=None))  # wrong window
    put(client, bucket, back(6), b"[1, 2]")
    client.delete_object(Bucket=bucket, Key=key_of(back(7)))
    counter = GetCounter(client)

    points = read_trend(client, bucket, CURRENT, key_of, model_name="churn")

    assert len(counter.keys) == TREND_WINDOWS - 1 == 11
    assert key_of(back(12)) not in counter.keys and key_of(back(11)) in counter.keys
    assert [p["window"]["start"] for p in points] == [
        back(h).as_dict()["start"] for h in (11, 10, 9, 8, 5, 1)
    ]
    assert points[-1] == {
        "window": back(1).as_dict(),
        "metric": "roc_auc",
        "realized": 0.51,
        "estimated": 0.6,
        "status": "OK",
        "baseline": 0.8,
    }


def test_no_earlier_report_is_an_empty_trend(client: Any, bucket: str) -> None:
    assert read_trend(client, bucket, CURRENT, key_of, model_name="churn") == []


def test_a_report_too_large_is_not_read(
    client: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps(report_of(back(1), realized=0.5, estimated=None)).encode()
    put(client, bucket, back(1), body)
    monkeypatch.setattr("modelops.monitoring.trend.MAX_REPORT_BYTES", len(body))
    assert len(read_trend(client, bucket, CURRENT, key_of, model_name="churn")) == 1
    monkeypatch.setattr("modelops.monitoring.trend.MAX_REPORT_BYTES", len(body) - 1)
    assert read_trend(client, bucket, CURRENT, key_of, model_name="churn") == []


def test_a_point_takes_the_primary_metric_realized_and_estimated() -> None:
    point = trend_point(report_of(CURRENT, realized=0.71, estimated=0.73))
    assert (point["metric"], point["realized"], point["estimated"], point["baseline"]) == (
        "roc_auc",
        0.71,
        0.73,
        0.8,
    )
    # no labels yet: the metric is the estimate's, realized is null
    point = trend_point(report_of(CURRENT, realized=None, estimated=0.73))
    assert (point["metric"], point["realized"], point["estimated"], point["baseline"]) == (
        "roc_auc",
        None,
        0.73,
        0.8,
    )
    # regression without labels: no estimate is made
    report = report_of(CURRENT, realized=None, estimated=None)
    report["estimated_performance"] = {
        "method": None,
        "reason": "no label-free estimate is made for regression",
    }
    assert trend_point(report)["metric"] is None and trend_point(report)["estimated"] is None
