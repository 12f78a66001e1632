"""The monitor reads both capture formats alike: a window captured a record per row (format
1), a record per request (format 2), or both mixed, gives one report, in one process, with
workers and in shards; a malformed format-2 record is counted once and skipped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from embedded_aws.provision import LocalStack
from modelops.monitoring.window import Window
from tests.monitoring.conftest import (
    WINDOW_END,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)
from tests.monitoring.test_sharded import _comparable, _differences, _sharded, _steps

WINDOW = Window(WINDOW_START, WINDOW_END)


def _clear(writer: CaptureWriter) -> None:
    listed = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")
    for item in listed.get("Contents", []):
        writer.s3.delete_object(Bucket=writer.bucket, Key=item["Key"])


def _write(writer: CaptureWriter, per_request: tuple[int, int]) -> None:
    """Drifted and plain rows (the second part starting later), ids fixed, half labeled."""
    drifted = churn(900, seed=21, numeric_shift=12.0, new_category_share=0.1)
    plain = churn(300, seed=22)
    ids = [f"d-{i}" for i in range(len(drifted))]
    writer.predictions(drifted, ids=ids, objects=3, per_request=per_request[0])
    writer.predictions(
        plain,
        ids=[f"p-{i}" for i in range(len(plain))],
        start=WINDOW_START + timedelta(minutes=2),
        per_request=per_request[1],
    )


def _report(local_stack: LocalStack, **overrides: str) -> dict[str, Any]:
    return make_monitor(local_stack, RETRAINING_ENABLED="false", **overrides).run(WINDOW)


def test_rows_requests_and_both_mixed_give_one_report(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    drifted = churn(900, seed=21, numeric_shift=12.0, new_category_share=0.1)
    writer.feedback([f"d-{i}" for i in range(450)], truth(drifted)[:450], received=WINDOW_START)
    _write(writer, (0, 0))
    expected = _comparable(_report(local_stack))
    assert expected["counts"]["predictions"] == 1200
    assert expected["counts"]["malformed"] == 0
    for layout in [(1, 1), (7, 300), (100, 0), (0, 13)]:
        _clear(writer)
        _write(writer, layout)
        report = _comparable(_report(local_stack))
        assert _differences(report, expected) == [], layout
        workers = _comparable(_report(local_stack, MONITOR_WORKERS="3"))
        assert _differences(workers, expected) == [], layout
    sharded = _comparable(_steps(_sharded(local_stack), 3))
    assert _differences(sharded, expected) == []


@pytest.mark.parametrize(
    "broken",
    [
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"}}',
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"},'
        b'"model":{"name":"churn","version":1},"inferenceIds":["a","b"],'
        b'"input":{"tenure_months":[1]},"output":{"label":["no","no"]}}',
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"},'
        b'"model":{"name":"churn","version":1},"inferenceIds":["a",7],'
        b'"input":{},"output":{"label":["no","no"]}}',
        b'{"eventVersion":"3","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"}}',
    ],
)
def test_a_malformed_request_record_is_counted_once_and_skipped(
    local_stack: LocalStack, writer: CaptureWriter, broken: bytes
) -> None:
    writer.predictions(churn(50, seed=3), per_request=10)
    writer.put(f"capture/churn/{WINDOW_START:%Y/%m/%d/%H}/", broken + b"\n")
    report = _report(local_stack)
    assert report["counts"]["predictions"] == 50
    assert report["counts"]["malformed"] == 1


def test_a_request_outside_the_window_counts_each_of_its_rows_outside(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(40, seed=4), per_request=8)
    writer.predictions(
        churn(30, seed=5), per_request=10, start=WINDOW_END, spread=timedelta(minutes=1)
    )
    report = _report(local_stack)
    assert report["counts"]["predictions"] == 40
    assert report["counts"]["outside_window"] == 30
