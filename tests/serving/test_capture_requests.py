"""Capture format 2 (CaptureFormat=requests): one record per request holding the rows as
columns. Its rows are the rows format 1 records, a request too large for one line is split
into lines of consecutive rows (no row lost, none twice), and a row too large alone becomes
format 1's truncated line."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from modelops.capture import (
    LOG_MAX_RECORD_BYTES,
    REQUEST_EVENT_VERSION,
    LogSink,
    fit_line,
    fit_lines,
    output_columns,
    request_record,
    request_rows,
)
from modelops.registry import ModelRegistry
from tests.models import sample_rows
from tests.serving.conftest import FakeLambdaContext, api_event, handler_of

Loader = Callable[..., ModuleType]


def captured(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"eventVersion"')]


def serve(
    app: ModuleType, body: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    capsys.readouterr()
    response = handler_of(app)(api_event(body), FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    return captured(capsys.readouterr().out)


def without_event_id(record: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in record["eventMetadata"].items() if k != "eventId"}
    return {**record, "eventMetadata": meta}


@pytest.mark.parametrize("rows", [1, 7])
def test_a_request_is_one_record_whose_rows_are_the_format_1_records(
    predict_handler: Loader,
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    rows: int,
) -> None:
    instances, _ = sample_rows("binary", rows)
    ids = [f"order-{i}" for i in range(rows)]
    body = {"instances": instances, "inference_ids": ids}
    per_row = serve(predict_handler(CAPTURE_FORMAT="rows"), body, capsys)
    per_request = serve(predict_handler(CAPTURE_FORMAT="requests"), body, capsys)

    assert len(per_row) == rows
    (record,) = per_request
    assert record["eventVersion"] == REQUEST_EVENT_VERSION == "2"
    assert record["inferenceIds"] == ids
    assert set(record["input"]) == set(instances[0])
    assert all(len(column) == rows for column in record["input"].values())
    assert "inferenceId" not in record["eventMetadata"]
    expanded = request_rows(record)
    # Row for row the same records, but for the event id (one per request) and the two
    # requests' own time and request id.
    for old, new in zip(per_row, expanded, strict=True):
        assert new["eventMetadata"]["eventId"] == record["eventMetadata"]["eventId"]
        for key in ("inferenceTime", "requestId"):
            assert new["eventMetadata"][key] == record["eventMetadata"][key]
            old["eventMetadata"][key] = new["eventMetadata"][key]
        assert without_event_id(new) == without_event_id(old)
        assert list(new["eventMetadata"]) == list(old["eventMetadata"])


def test_a_column_wise_request_is_captured_from_its_columns(
    predict_handler: Loader,
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    instances, _ = sample_rows("binary", 4)
    names = list(instances[0])
    body = {
        "dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in instances]}
    }
    (record,) = serve(predict_handler(CAPTURE_FORMAT="requests"), body, capsys)
    assert record["input"] == {n: [r[n] for r in instances] for n in names}
    assert [r["input"] for r in request_rows(record)] == instances


@pytest.fixture
def half_sampled(
    predict_handler: Loader, registry: ModelRegistry, binary_champion: dict[str, Any]
) -> ModuleType:
    """PredictFunction capturing a record per request and half of the rows."""
    return predict_handler(CAPTURE_FORMAT="requests", CAPTURE_SAMPLE_RATE="0.5")


def test_a_sample_of_rows_keeps_each_row_whole(
    half_sampled: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    app = half_sampled
    draws = iter([0.7, 0.1, 0.5, 0.49, 0.9, 0.0])  # rows 1, 3 and 5 are below 0.5
    app.service.recording.sample = lambda: next(draws)
    instances, _ = sample_rows("binary", 6)
    ids = [f"r{i}" for i in range(6)]
    (record,) = serve(app, {"instances": instances, "inference_ids": ids}, capsys)
    assert record["inferenceIds"] == ["r1", "r3", "r5"]
    assert [r["input"] for r in request_rows(record)] == [instances[i] for i in (1, 3, 5)]


def test_no_sampled_row_writes_no_record(
    half_sampled: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    app = half_sampled
    app.service.recording.sample = lambda: 0.5  # never below the rate
    instances, _ = sample_rows("binary", 3)
    assert serve(app, {"instances": instances}, capsys) == []


def test_an_unknown_capture_format_is_a_configuration_error(predict_handler: Loader) -> None:
    with pytest.raises(Exception, match="CAPTURE_FORMAT must be one of rows, requests"):
        predict_handler(CAPTURE_FORMAT="columns")


def request(rows: int, *, note: str = "x") -> dict[str, Any]:
    outputs = [
        {"label": "yes" if i % 2 else "no", "probabilities": {"no": i / rows, "yes": 1 - i / rows}}
        for i in range(rows)
    ]
    return request_record(
        event_id="e-1",
        inference_ids=[f"id-{i}" for i in range(rows)],
        inference_time="2026-11-26T13:05:45.123Z",
        request_id="req-1",
        source="api",
        model_name="churn",
        model_version=3,
        inputs={"tenure": list(range(rows)), "note": [note * (i + 1) for i in range(rows)]},
        outputs=output_columns(outputs),
    )


@pytest.mark.parametrize("rows", [2, 3, 50, 333])
@pytest.mark.parametrize("limit", [2_000, 9_000, LOG_MAX_RECORD_BYTES])
def test_a_record_over_the_limit_becomes_lines_of_consecutive_rows(rows: int, limit: int) -> None:
    record = request(rows, note="ab")
    whole = fit_line(record, 10**9)
    lines = fit_line(record, limit).splitlines()
    assert all(len(line) + 1 <= limit for line in lines)
    parts = [json.loads(line) for line in lines]
    if len(whole) <= limit:
        assert len(parts) == 1
    else:
        assert len(parts) > 1
    expanded = [row for part in parts for row in request_rows(part)]
    assert expanded == request_rows(record)  # every row once, in order, unchanged
    assert fit_lines([record, record], limit) == fit_line(record, limit) * 2


def test_at_the_limit_a_record_stays_one_line_and_one_byte_less_splits_it() -> None:
    record = request(10)
    size = len(fit_line(record, 10**9))
    assert fit_line(record, size).count(b"\n") == 1
    assert fit_line(record, size - 1).count(b"\n") > 1


def test_a_row_too_large_alone_becomes_the_truncated_format_1_line() -> None:
    record = request(3, note="y" * 1500)  # row 2 alone holds 4,500 characters
    lines = [json.loads(line) for line in fit_line(record, 4_000).splitlines()]
    rows = [
        row for part in lines for row in (request_rows(part) if "inferenceIds" in part else [part])
    ]
    assert [r["eventMetadata"]["inferenceId"] for r in rows] == ["id-0", "id-1", "id-2"]
    truncated = [r for r in lines if r["eventVersion"] == "1"]
    assert [r["eventMetadata"]["inferenceId"] for r in truncated] == ["id-2"]
    assert truncated[0]["eventMetadata"]["truncated"] is True
    assert len(truncated[0]["input"]["note"]) == 1024


def test_the_log_sink_writes_a_large_request_within_a_log_event() -> None:
    stream = io.StringIO()
    record = request(1000, note="z" * 40)
    LogSink(stream).write([record])
    lines = stream.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line.encode()) < LOG_MAX_RECORD_BYTES for line in lines)
    ids = [i for line in lines for i in json.loads(line)["inferenceIds"]]
    assert ids == [f"id-{i}" for i in range(1000)]


@pytest.mark.parametrize(
    "broken",
    [
        {"inferenceIds": "id-0"},
        {"inferenceIds": ["id-0"]},  # two rows of columns for one id
        {"input": {"tenure": [1]}},
        {"output": {"label": ["no"], "probabilities": {"no": [0.5]}}},
        {"output": {"label": ["no", "yes"], "probabilities": {}}},
        {"input": [[1, 2]]},
    ],
)
def test_a_malformed_request_record_is_refused_by_its_reader(broken: dict[str, Any]) -> None:
    record = {**request(2), **broken}
    with pytest.raises((ValueError, KeyError, TypeError)):
        request_rows(record)
