"""Captured records and their sinks: one encoding, byte-identical through the log and
Firehose, Firehose limits and retries, and capture failures that never fail a prediction."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from embedded_aws.provision import create_capture_stream
from embedded_aws.template import resource
from modelops.capture import (
    FIREHOSE_MAX_BATCH_BYTES,
    CaptureError,
    FirehoseSink,
    LogSink,
    S3Sink,
    batches,
    encode_record,
    feedback_record,
    prediction_record,
)
from modelops.registry import ModelRegistry
from tests.models import sample_rows
from tests.serving.conftest import CAPTURE_STREAM, FakeLambdaContext, api_event, handler_of

Loader = Callable[..., ModuleType]


def record(i: int, **extra: Any) -> dict[str, Any]:
    return prediction_record(
        inference_id=f"id-{i}",
        inference_time="2026-11-26T13:05:45.123Z",
        request_id="req-1",
        source="api",
        model_name="churn",
        model_version=3,
        features={"tenure_months": i, "plan": "basic", "note": "naïve ✓", **extra},
        output={"label": "yes", "probabilities": {"no": 0.18, "yes": 0.82}},
    )


def s3_lines(s3: Any, bucket: str, prefix: str) -> tuple[list[str], bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    data = b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys))
    return keys, data


@pytest.fixture
def firehose(mocked_aws: None, bucket: str) -> Any:
    client = boto3.client("firehose")
    create_capture_stream(client, bucket, name=CAPTURE_STREAM)
    return client


# ---- records and encoding ------------------------------------------------------------------


def test_prediction_record_has_the_contract_shape() -> None:
    rec = record(1)
    assert rec["eventVersion"] == "1"
    assert set(rec["eventMetadata"]) == {
        "eventId",
        "inferenceId",
        "inferenceTime",
        "requestId",
        "source",
    }
    assert rec["model"] == {"name": "churn", "version": 3}
    assert record(1)["eventMetadata"]["eventId"] != rec["eventMetadata"]["eventId"]


def test_feedback_record_has_exactly_one_target() -> None:
    assert feedback_record(inference_id="a", received_time="t", label="no") == {
        "eventVersion": "1",
        "inferenceId": "a",
        "label": "no",
        "receivedTime": "t",
    }
    assert feedback_record(inference_id="a", received_time="t", value=1.5)["value"] == 1.5
    with pytest.raises(ValueError, match="exactly one"):
        feedback_record(inference_id="a", received_time="t")


def test_encoding_is_one_compact_utf8_line() -> None:
    rec = record(1)
    line = encode_record(rec)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "naïve ✓".encode() in line
    assert json.loads(line) == rec  # every field, eventMetadata included, decodes to itself
    assert json.loads(line)["eventMetadata"] == {
        "eventId": rec["eventMetadata"]["eventId"],
        "inferenceId": "id-1",
        "inferenceTime": "2026-11-26T13:05:45.123Z",
        "requestId": "req-1",
        "source": "api",
    }
    # No NaN token ever (it becomes null); integers beyond 64 bits still encode.
    assert encode_record({"x": float("nan")}) == b'{"x":null}\n'
    assert (
        encode_record({"big": 10**30, "s": "é"})
        == '{"big":1000000000000000000000000000000,"s":"é"}\n'.encode()
    )


# ---- the two sinks write the same bytes ----------------------------------------------------


def test_log_and_firehose_sinks_write_byte_identical_lines(
    firehose: Any, s3: Any, bucket: str
) -> None:
    records = [record(i) for i in range(5)]
    log = io.StringIO()
    LogSink(log).write(records)
    FirehoseSink(CAPTURE_STREAM, firehose_client=firehose).write(records)
    keys, delivered = s3_lines(s3, bucket, "capture/churn/")
    assert keys, "moto delivered nothing"
    assert delivered == log.getvalue().encode() == b"".join(encode_record(r) for r in records)


def test_firehose_delivers_under_the_template_prefix_by_hour(
    firehose: Any, s3: Any, bucket: str
) -> None:
    FirehoseSink(CAPTURE_STREAM, firehose_client=firehose).write([record(0)])
    keys, _ = s3_lines(s3, bucket, "capture/")
    hour = datetime.now(UTC)
    (key,) = keys
    assert key.startswith(f"capture/churn/{hour:%Y/%m/%d}/")
    assert len(key.split("/")) == 7  # capture/churn/YYYY/MM/DD/HH/object


def test_s3_sink_writes_one_jsonl_object_per_write(s3: Any, bucket: str) -> None:
    moment = datetime(2026, 11, 26, 13, 5, tzinfo=UTC)
    sink = S3Sink(bucket, "feedback/churn/", s3_client=s3, clock=lambda: moment)
    sink.write([record(1), record(2)])
    keys, data = s3_lines(s3, bucket, "feedback/churn/2026/11/26/13/")
    assert len(keys) == 1 and keys[0].endswith(".jsonl")
    assert data.count(b"\n") == 2


# ---- Firehose limits, partial failures, outages --------------------------------------------


def test_batches_respect_500_records_and_4_mib() -> None:
    assert [len(b) for b in batches([b"x\n"] * 1201)] == [500, 500, 201]
    big = [b"y" * (900 * 1024)] * 10
    sizes = [sum(map(len, b)) for b in batches(big)]
    assert all(size <= FIREHOSE_MAX_BATCH_BYTES for size in sizes)
    assert sum(len(b) for b in batches(big)) == 10


def test_partial_failure_retries_only_the_failed_entries() -> None:
    client = boto3.client("firehose")
    records = [record(i) for i in range(3)]
    lines = [encode_record(r) for r in records]
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response(
            "put_record_batch",
            {
                "FailedPutCount": 2,
                "RequestResponses": [
                    {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"},
                    {"RecordId": "r1"},
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "oops"},
                ],
            },
            {"DeliveryStreamName": CAPTURE_STREAM, "Records": [{"Data": line} for line in lines]},
        )
        stub.add_response(
            "put_record_batch",
            {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r0"}, {"RecordId": "r2"}]},
            {
                "DeliveryStreamName": CAPTURE_STREAM,
                "Records": [{"Data": lines[0]}, {"Data": lines[2]}],
            },
        )
        FirehoseSink(CAPTURE_STREAM, firehose_client=client, sleep=sleeps.append).write(records)
        stub.assert_no_pending_responses()
    assert sleeps == [0.05]


def test_entries_failing_every_attempt_are_reported() -> None:
    client = boto3.client("firehose")
    failing = {
        "FailedPutCount": 1,
        "RequestResponses": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}],
    }
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("put_record_batch", failing)
        with pytest.raises(CaptureError, match="1 of 1 records were not delivered") as caught:
            FirehoseSink(CAPTURE_STREAM, firehose_client=client, sleep=lambda s: None).write(
                [record(0)]
            )
    assert caught.value.failed == 1


def test_outage_raises_capture_error_with_the_undelivered_lines(mocked_aws: None) -> None:
    client = boto3.client("firehose")  # no such stream on this (moto) account: every call fails
    sink = FirehoseSink("missing-stream", firehose_client=client, sleep=lambda s: None)
    rows = [record(0), record(1)]
    with pytest.raises(CaptureError, match="2 of 2 records were not delivered") as caught:
        sink.write(rows)
    assert caught.value.failed == 2
    assert caught.value.lines == [encode_record(r) for r in rows]


# ---- through PredictFunction ---------------------------------------------------------------


def test_n_requests_give_exactly_n_records_in_s3_through_the_firehose_sink(
    predict_handler: Loader,
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    firehose: Any,
    s3: Any,
    bucket: str,
) -> None:
    app = predict_handler(CAPTURE_SINK="firehose")
    instances, _ = sample_rows("binary", 5)
    served: list[str] = []
    for n in (1, 2, 3, 5, 1):
        response = handler_of(app)(api_event({"instances": instances[:n]}), FakeLambdaContext())
        served += [p["inference_id"] for p in json.loads(response["body"])["predictions"]]
    _, data = s3_lines(s3, bucket, "capture/churn/")
    lines = data.decode().splitlines()
    assert len(lines) == len(served) == 12
    # Object keys order puts within a second randomly; every served row is there exactly once.
    assert sorted(json.loads(line)["eventMetadata"]["inferenceId"] for line in lines) == sorted(
        served
    )


def test_firehose_and_s3_outage_does_not_fail_the_prediction(
    predict_handler: Loader,
    binary_champion: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    s3: Any,
    bucket: str,
) -> None:
    app = predict_handler(CAPTURE_SINK="firehose", CAPTURE_STREAM="no-such-stream")
    # The dead-letter place is unreachable too (a bucket that does not exist).
    app.service.recording.sink.dead_letter = S3Sink(
        "no-such-bucket", "capture-dlq/churn/", s3_client=s3
    )
    capsys.readouterr()
    response = handler_of(app)(
        api_event({"instances": sample_rows("binary", 2)[0]}), FakeLambdaContext()
    )
    assert response["statusCode"] == 200
    served = [p["inference_id"] for p in json.loads(response["body"])["predictions"]]
    assert len(served) == 2
    out = capsys.readouterr().out.splitlines()
    emf = [json.loads(line) for line in out if line.startswith('{"_aws"')]
    # The last resort: the records are in the function's log, whole, to recover by hand.
    logged = [json.loads(line) for line in out if line.startswith('{"eventVersion"')]
    assert [r["eventMetadata"]["inferenceId"] for r in logged] == served
    (failures,) = [m for m in emf if "CaptureFailures" in m]
    assert failures["CaptureFailures"] == [2.0]
    assert failures["ModelName"] == "churn"
    # Exactly the dimensions CaptureFailuresAlarm watches (CloudWatch matches them exactly).
    alarm = resource("CaptureFailuresAlarm")["Properties"]
    (directive,) = failures["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [[d["Name"] for d in alarm["Dimensions"]]]
    assert directive["Namespace"] == alarm["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [alarm["MetricName"]]
