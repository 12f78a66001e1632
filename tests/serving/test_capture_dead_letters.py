"""Nothing captured is lost: oversize rows are captured truncated and flagged, a failing sink
backs off and spills to capture-dlq/<name>/, the monitor counts the dead letters and
replays them into capture/<name>/, and N broken requests end as N x rows records."""

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
    FIREHOSE_MAX_RECORD_BYTES,
    LOG_MAX_RECORD_BYTES,
    CaptureError,
    FirehoseSink,
    LogSink,
    S3Sink,
    SpillingSink,
    dead_letter_prefix,
    encode_record,
    fit_line,
)
from modelops.monitoring.dead_letters import (
    REPLAY_ACTION,
    count_dead_letters,
    replay_dead_letters,
)
from tests.models import sample_rows
from tests.serving.conftest import CAPTURE_STREAM, FakeLambdaContext, api_event, handler_of
from tests.serving.test_capture import record, s3_lines
from tests.serving.test_model_cache import FakeClock

Loader = Callable[..., ModuleType]


@pytest.fixture
def firehose(mocked_aws: None, bucket: str) -> Any:
    client = boto3.client("firehose")
    create_capture_stream(client, bucket, name=CAPTURE_STREAM)
    return client


def sized(target: int) -> dict[str, Any]:
    """A prediction record whose line is exactly `target` bytes long."""
    base = len(encode_record(record(0, blob="")))
    made = record(0, blob="z" * (target - base))
    assert len(encode_record(made)) == target
    return made


# ---- oversize rows -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [FIREHOSE_MAX_RECORD_BYTES, LOG_MAX_RECORD_BYTES])
def test_a_row_over_the_limit_is_captured_truncated_and_flagged(limit: int) -> None:
    at_limit = sized(limit)
    assert fit_line(at_limit, limit) == encode_record(at_limit)  # exactly the limit: whole

    over = sized(limit + 1)
    line = fit_line(over, limit)
    assert len(line) <= limit
    captured = json.loads(line)
    meta = captured["eventMetadata"]
    assert meta["truncated"] is True and meta["originalBytes"] == limit + 1
    assert meta["inferenceId"] == over["eventMetadata"]["inferenceId"]
    assert captured["output"] == over["output"]
    assert captured["input"]["blob"] == "z" * 1024  # cut, not dropped
    assert captured["input"]["tenure_months"] == 0  # other inputs whole


def test_a_row_too_wide_even_truncated_keeps_its_identity_and_output() -> None:
    wide = record(0, **{f"f{i}": "v" * 40 for i in range(40_000)})
    line = fit_line(wide, FIREHOSE_MAX_RECORD_BYTES)
    captured = json.loads(line)
    assert captured["input"] == {}
    assert captured["eventMetadata"]["truncated"] is True
    assert captured["output"] == wide["output"]


def test_sinks_capture_oversize_rows_instead_of_failing(
    firehose: Any, s3: Any, bucket: str
) -> None:
    rows = [record(1), sized(FIREHOSE_MAX_RECORD_BYTES + 10)]
    FirehoseSink(CAPTURE_STREAM, firehose_client=firehose).write(rows)
    _, data = s3_lines(s3, bucket, "capture/churn/")
    captured = [json.loads(line) for line in data.splitlines()]
    assert [c["eventMetadata"].get("truncated", False) for c in captured] == [False, True]
    log = io.StringIO()
    LogSink(log).write([sized(LOG_MAX_RECORD_BYTES + 1)])
    assert len(log.getvalue().encode()) <= LOG_MAX_RECORD_BYTES


# ---- back-off and spilling -----------------------------------------------------------------


def test_firehose_outage_backs_off_instead_of_calling_on_every_write() -> None:
    client = boto3.client("firehose")
    clock = FakeClock()
    sink = FirehoseSink(CAPTURE_STREAM, firehose_client=client, clock=clock, sleep=lambda s: None)
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_record_batch", "ServiceUnavailableException", http_status_code=503
        )
        with pytest.raises(CaptureError):
            sink.write([record(0)])
        clock.now += 0.999  # within the 1 s back-off: no call (the stubber has none left)
        second = record(1)
        with pytest.raises(CaptureError) as caught:
            sink.write([second])
        assert caught.value.lines == [encode_record(second)]
        stub.assert_no_pending_responses()
        clock.now += 0.001
        stub.add_response("put_record_batch", {"FailedPutCount": 0, "RequestResponses": [{}]})
        sink.write([record(2)])  # due again: called, and delivered
        stub.assert_no_pending_responses()


class BrokenSink:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, records: Any) -> None:
        self.calls += 1
        raise CaptureError("down", failed=len(records))


def test_undelivered_records_are_spilled_whole_to_the_dead_letter_prefix(
    s3: Any, bucket: str
) -> None:
    spilled: list[int] = []
    sink = SpillingSink(
        BrokenSink(),
        S3Sink(bucket, dead_letter_prefix("churn"), s3_client=s3),
        on_spill=lambda count, exc: spilled.append(count),
    )
    rows = [record(i) for i in range(3)]
    sink.write(rows)  # no error: nothing was lost
    assert spilled == [3]
    keys, data = s3_lines(s3, bucket, "capture-dlq/churn/")
    assert len(keys) == 1
    assert data == b"".join(encode_record(r) for r in rows)


def test_when_the_dead_letter_place_fails_too_the_loss_is_raised_and_logged(
    s3: Any, bucket: str
) -> None:
    clock, log = FakeClock(), io.StringIO()
    dead = S3Sink("no-such-bucket", dead_letter_prefix("churn"), s3_client=s3)
    sink = SpillingSink(BrokenSink(), dead, last_resort=LogSink(log), clock=clock)
    rows = [record(0), record(1)]
    with pytest.raises(CaptureError, match="neither delivered nor spilled") as caught:
        sink.write(rows)
    assert caught.value.failed == 2
    assert log.getvalue().encode() == encode_record(rows[0]) + encode_record(rows[1])
    # The dead-letter writes back off too: within 1 s, the next loss costs no S3 call.
    calls = []
    dead.write_lines = lambda lines: calls.append(lines)  # type: ignore[method-assign]
    clock.now += 0.999
    with pytest.raises(CaptureError):
        sink.write([record(2)])
    assert calls == []
    clock.now += 0.001
    last = record(3)
    sink.write([last])
    assert calls == [[encode_record(last)]]


# ---- the monitor counts and replays ----------------------------------------------------------


def test_replay_moves_dead_letters_to_the_hour_of_their_inference_exactly_once(
    s3: Any, bucket: str
) -> None:
    moment = datetime(2026, 11, 26, 15, 1, tzinfo=UTC)
    dead = S3Sink(bucket, dead_letter_prefix("churn"), s3_client=s3, clock=lambda: moment)
    rows = [record(i) for i in range(4)]  # inferred at 13:05, spilled at 15:01
    rows[1]["eventMetadata"]["inferenceTime"] = "2026-11-26T13:59:59.999Z"  # same hour
    rows[2]["eventMetadata"]["inferenceTime"] = "2026-11-26T14:00:00.000Z"  # the next one
    dead.write(rows[:3])
    dead.write_lines([encode_record(rows[3]), b"not json\n"])
    assert count_dead_letters(s3, bucket, "churn").records == 5

    assert replay_dead_letters(s3, bucket, "churn") == {"objects": 2, "records": 5}
    assert count_dead_letters(s3, bucket, "churn").records == 0
    _, data = s3_lines(s3, bucket, "capture/churn/2026/11/26/13/")
    hour_13 = [rows[0], rows[1], rows[3]]
    assert sorted(data.splitlines()) == sorted(encode_record(r).rstrip() for r in hour_13)
    _, data = s3_lines(s3, bucket, "capture/churn/2026/11/26/14/")
    assert data == encode_record(rows[2])
    _, unreadable = s3_lines(s3, bucket, "capture/churn/2026/11/26/15/")
    assert unreadable == b"not json\n"  # kept, under the hour it was spilled in


def test_an_interrupted_replay_run_again_duplicates_nothing(s3: Any, bucket: str) -> None:
    dead = S3Sink(bucket, dead_letter_prefix("churn"), s3_client=s3)
    dead.write([record(0), record(1)])
    (key,) = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="capture-dlq/")["Contents"]
    ]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    replay_dead_letters(s3, bucket, "churn")
    s3.put_object(Bucket=bucket, Key=key, Body=body)  # as if the delete had never happened
    replay_dead_letters(s3, bucket, "churn")
    _, data = s3_lines(s3, bucket, "capture/churn/")
    assert len(data.splitlines()) == 2


# ---- end to end: N broken requests, N x rows records ---------------------------------------


def test_a_sink_outage_of_n_requests_loses_no_record(
    predict_handler: Loader,
    binary_champion: dict[str, Any],
    s3: Any,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The stream does not exist yet: Firehose refuses every put (an outage).
    app = predict_handler(CAPTURE_SINK="firehose")
    handler = handler_of(app)
    instances, _ = sample_rows("binary", 7)
    served: list[str] = []

    def serve(rows: int) -> None:
        response = handler(api_event({"instances": instances[:rows]}), FakeLambdaContext())
        assert response["statusCode"] == 200
        served.extend(p["inference_id"] for p in json.loads(response["body"])["predictions"])

    broken = [1, 3, 7, 2, 5]
    for rows in broken:
        serve(rows)
    out = capsys.readouterr().out.splitlines()
    emf = [json.loads(line) for line in out if line.startswith('{"_aws"')]
    assert sum(m["CaptureSpilled"][0] for m in emf if "CaptureSpilled" in m) == sum(broken)
    assert not [m for m in emf if "CaptureFailures" in m]

    create_capture_stream(boto3.client("firehose"), bucket, name=CAPTURE_STREAM)  # back
    app.service.recording.sink.primary.outage.succeeded()  # the back-off is over (no 1 s sleep)
    for rows in (4, 1):
        serve(rows)

    def captured(prefix: str) -> list[str]:
        _, data = s3_lines(s3, bucket, prefix)
        return [json.loads(line)["eventMetadata"]["inferenceId"] for line in data.splitlines()]

    assert len(captured("capture-dlq/churn/")) == sum(broken)
    assert sorted(captured("capture/churn/") + captured("capture-dlq/churn/")) == sorted(served)

    # The monitor counts them in its report and metric, then replays them on request.
    monitor = _monitor(predict_handler, bucket)
    now = datetime.now(UTC)
    window = {"start": f"{now:%Y-%m-%dT%H}:00:00Z", "end": f"{now:%Y-%m-%dT%H}:59:59Z"}
    capsys.readouterr()
    summary = monitor({"window": window}, FakeLambdaContext())
    assert summary["counts"]["capture_dead_letters"] == sum(broken)
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    assert [m["CaptureDeadLetters"] for m in emf if "CaptureDeadLetters" in m] == [
        [float(sum(broken))]
    ]
    assert monitor({"action": REPLAY_ACTION}, FakeLambdaContext()) == {
        "replayed": {"objects": len(broken), "records": sum(broken)}
    }
    assert captured("capture-dlq/churn/") == []
    assert sorted(captured("capture/churn/")) == sorted(served)  # each exactly once


def _monitor(predict_handler: Loader, bucket: str) -> Any:
    """MonitorFunction's handler on the same (moto) bucket."""
    from embedded_aws.lambda_runtime import LocalFunction
    from embedded_aws.template import function_environment, resolve

    env = resolve(
        function_environment("MonitorFunction"),
        {"ModelOpsBucket": bucket, "TrainingJobQueue": "q", "TrainingJobDefinition": "d"},
    )
    function = LocalFunction("MonitorFunction", {k: str(v) for k, v in env.items()})
    return lambda event, context: function.invoke(event)


def test_the_dead_letter_alarm_watches_the_monitor_metric() -> None:
    alarm = resource("CaptureDeadLettersAlarm")["Properties"]
    assert alarm["MetricName"] == "CaptureDeadLetters"
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
