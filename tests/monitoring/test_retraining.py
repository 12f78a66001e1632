"""Acting on a window: the training job submitted once per window, never while one is queued
or running, never within the cooldown; the RetrainingRequested event put on EventBridge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded_aws.provision import LocalStack
from embedded_aws.template import resource
from modelops.monitoring.retraining import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    PENDING_TTL,
    job_name_prefix,
)
from modelops.monitoring.window import Window
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn, make_monitor

DRIFTING = {"DRIFT_SHARE_THRESHOLD": "0.3"}
NOW = WINDOW_START + timedelta(hours=1, minutes=5)


def window(hours_later: int = 0) -> Window:
    start = WINDOW_START + timedelta(hours=hours_later)
    return Window(start, start + timedelta(hours=1))


def drifting_window(writer: CaptureWriter, hours_later: int = 0) -> None:
    writer.predictions(
        churn(600, seed=30 + hours_later, numeric_shift=25.0, new_category_share=0.3),
        start=WINDOW_START + timedelta(hours=hours_later),
    )


def retraining_jobs(local_stack: LocalStack) -> list[dict[str, Any]]:
    batch = boto3.client("batch")
    queue = local_stack.ref("TrainingJobQueue")
    jobs = []
    for state in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        jobs += batch.list_jobs(jobQueue=queue, jobStatus=state)["jobSummaryList"]
    return [j for j in jobs if j["jobName"].startswith(job_name_prefix("churn"))]


def subscribe_queue_to_retraining_events() -> str:
    """An SQS queue behind a rule with the template's RetrainingRequestedRule pattern (moto
    delivers events to SQS targets, not to SNS ones)."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="retraining-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    pattern = resource("RetrainingRequestedRule")["Properties"]["EventPattern"]
    events.put_rule(Name="retraining-to-sqs", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule="retraining-to-sqs", Targets=[{"Id": "sqs", "Arn": arn}])
    return url


def test_drift_submits_the_training_job_once_per_window_and_announces_it(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    queue_url = subscribe_queue_to_retraining_events()
    drifting_window(writer)
    monitor = make_monitor(local_stack, now=NOW, **DRIFTING)
    report = monitor.run(window())
    assert report["status"] == "DRIFT"
    retraining = report["retraining"]
    assert retraining["triggered"] is True, retraining["reason"]
    jobs = retraining_jobs(local_stack)
    assert [j["jobId"] for j in jobs] == [retraining["job_id"]]
    job = boto3.client("batch").describe_jobs(jobs=[retraining["job_id"]])["jobs"][0]
    command = job["container"]["command"]
    assert command[:4] == ["train", "--from-feedback", "--model-name", "churn"]
    assert (
        command[command.index("--since") + 1] == "2026-10-27T13:00:00.000Z"
    )  # 30 days before the window's end
    assert job["jobDefinition"] == local_stack.ref("TrainingJobDefinition")

    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    event = json.loads(messages[0]["Body"])
    assert event["source"] == EVENT_SOURCE and event["detail-type"] == EVENT_DETAIL_TYPE
    assert event["detail"]["status"] == "DRIFT"
    assert event["detail"]["job"]["id"] == retraining["job_id"]
    assert event["detail"]["summary"]["drift"]["features"]["monthly_charges"]["drifted"] is True

    # Re-running the window (later, even with the cooldown over) never triggers again.
    again = make_monitor(local_stack, now=NOW + timedelta(days=5), **DRIFTING).run(window())
    assert again["retraining"]["triggered"] is False
    assert "already triggered" in again["retraining"]["reason"]
    assert again["retraining"]["job_id"] == retraining["job_id"]
    assert len(retraining_jobs(local_stack)) == 1


class StillRunning:
    """A Batch client on moto that reports `job_id` as RUNNING until `finish()`, as real Batch
    would for a long training job (moto's Batch without Docker finishes every job at once).
    Done through botocore's public event hooks on ListJobs, not moto's internals."""

    def __init__(self, job_id: str, job_name: str) -> None:
        self.job_id = job_id
        self.client = boto3.client("batch")
        self.running = True
        self._status: list[str] = []
        self._job = {"jobId": job_id, "jobName": job_name, "status": "RUNNING"}
        self.client.meta.events.register("provide-client-params.batch.ListJobs", self._asked)
        self.client.meta.events.register("after-call.batch.ListJobs", self._answer)

    def finish(self) -> None:
        self.running = False

    def _asked(self, params: dict[str, Any], **_: Any) -> None:
        self._status.append(params.get("jobStatus", ""))

    def _answer(self, parsed: dict[str, Any], **_: Any) -> None:
        status = self._status.pop()
        summaries = [
            j for j in parsed.get("jobSummaryList", []) if j["jobId"] != self._job["jobId"]
        ]
        if self.running and status == "RUNNING":
            summaries.append(dict(self._job))
        parsed["jobSummaryList"] = summaries


def running_training_job(stack: LocalStack, name: str) -> StillRunning:
    """A training job named `name` submitted to the stack's queue, seen RUNNING until
    finished (StillRunning)."""
    job_id = boto3.client("batch").submit_job(
        jobName=name,
        jobQueue=stack.ref("TrainingJobQueue"),
        jobDefinition=stack.ref("TrainingJobDefinition"),
    )["jobId"]
    return StillRunning(job_id, name)


def test_no_trigger_while_a_retraining_job_is_queued_or_running(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    still = running_training_job(local_stack, f"{job_name_prefix('churn')}-earlier")
    drifting_window(writer)
    report = make_monitor(local_stack, now=NOW, batch_client=still.client, **DRIFTING).run(window())
    assert report["status"] == "DRIFT"
    assert report["retraining"]["triggered"] is False
    assert report["retraining"]["reason"] == (
        f"a retraining job for churn is still RUNNING ({still.job_id}): not submitting another"
    )
    assert len(retraining_jobs(local_stack)) == 1

    still.finish()  # it finished: the window may trigger now
    assert (
        make_monitor(local_stack, now=NOW, batch_client=still.client, **DRIFTING).run(window())[
            "retraining"
        ]["triggered"]
        is True
    )


def test_no_trigger_within_the_cooldown(local_stack: LocalStack, writer: CaptureWriter) -> None:
    drifting_window(writer, 0)
    drifting_window(writer, 1)
    first = make_monitor(local_stack, now=NOW, **DRIFTING).run(window(0))
    assert first["retraining"]["triggered"] is True
    second = make_monitor(local_stack, now=NOW + timedelta(hours=1), **DRIFTING).run(window(1))
    assert second["status"] == "DRIFT"
    assert second["retraining"]["triggered"] is False
    assert second["retraining"]["reason"].startswith("cooldown")
    third = make_monitor(
        local_stack, now=NOW + timedelta(hours=1), RETRAINING_COOLDOWN_HOURS="0.5", **DRIFTING
    )
    assert third.run(window(1))["retraining"]["triggered"] is True
    assert len(retraining_jobs(local_stack)) == 2


def test_ok_window_and_disabled_retraining_say_why_not(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(400, seed=40))
    ok = make_monitor(local_stack, now=NOW).run(window())
    assert ok["retraining"] == {
        "triggered": False,
        "reason": "status is OK: retraining is only for DRIFT or DEGRADED",
        "job_id": None,
    }
    drifting_window(writer, 1)
    disabled = make_monitor(local_stack, now=NOW, RETRAINING_ENABLED="false", **DRIFTING).run(
        window(1)
    )
    assert disabled["status"] == "DRIFT"
    assert (
        disabled["retraining"]["triggered"] is False
        and "disabled" in disabled["retraining"]["reason"]
    )
    assert retraining_jobs(local_stack) == []


def test_scheduled_event_monitors_the_last_complete_window() -> None:
    event = {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-11-26T13:00:07Z",
    }
    assert Window.from_event(event, window_minutes=60) == window()
    assert Window.from_event(event, window_minutes=15).start == datetime(
        2026, 11, 26, 12, 45, tzinfo=UTC
    )


# ---- a submission that fails or dies is retried ---------------------------------------
class SubmitFails:
    """A Batch client whose SubmitJob raises `error` on its first `times` calls."""

    def __init__(self, error: BaseException, times: int = 1) -> None:
        self._client = boto3.client("batch")
        self._error = error
        self.times = times

    def submit_job(self, **kwargs: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            raise self._error
        return self._client.submit_job(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def marker_writes(s3: Any) -> list[dict[str, Any]]:
    """Every PutObject of a window marker the code sends through `s3` (a spy, not moto)."""
    writes: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if "/retraining/windows/" in params["Key"]:
            body = json.loads(params["Body"])
            writes.append(
                {
                    "state": body["state"],
                    **{k: params[k] for k in ("IfNoneMatch", "IfMatch") if k in params},
                }
            )

    s3.meta.events.register("before-parameter-build.s3.PutObject", record)
    return writes


def window_marker(local_stack: LocalStack) -> tuple[dict[str, Any], str]:
    key = f"reports/churn/retraining/windows/{window().key}.json"
    response = boto3.client("s3").get_object(Bucket=local_stack.bucket, Key=key)
    return json.loads(response["Body"].read()), response["ETag"]


def test_a_failed_submission_is_retried_by_the_next_run_of_the_window(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    drifting_window(writer)
    s3 = boto3.client("s3")
    writes = marker_writes(s3)
    refused = ClientError(
        {"Error": {"Code": "ServerException", "Message": "Batch is unavailable"}}, "SubmitJob"
    )
    first = make_monitor(
        local_stack, now=NOW, s3_client=s3, batch_client=SubmitFails(refused), **DRIFTING
    ).run(window())
    assert first["status"] == "DRIFT"
    assert first["retraining"]["triggered"] is False
    assert "Batch is unavailable" in first["retraining"]["submit_error"]
    assert "retries" in first["retraining"]["reason"]
    assert retraining_jobs(local_stack) == []
    failed, failed_etag = window_marker(local_stack)
    assert failed["state"] == "failed" and failed["job_id"] is None
    assert "Batch is unavailable" in failed["error"]

    # The next run of the window (a second later, no cooldown since nothing was submitted).
    second = make_monitor(
        local_stack, now=NOW + timedelta(seconds=1), s3_client=s3, **DRIFTING
    ).run(window())
    assert second["retraining"]["triggered"] is True, second["retraining"]["reason"]
    assert [j["jobId"] for j in retraining_jobs(local_stack)] == [second["retraining"]["job_id"]]
    submitted, _ = window_marker(local_stack)
    assert submitted["state"] == "submitted" and submitted["attempt"] == 2
    assert submitted["job_id"] == second["retraining"]["job_id"]

    # Every marker write is conditional: the first claim creates, every later one replaces
    # exactly the marker that was read (the failed claim by its ETag).
    assert writes[0] == {"state": "pending", "IfNoneMatch": "*"}
    assert [w["state"] for w in writes] == ["pending", "failed", "pending", "submitted"]
    assert all("IfMatch" in w and "IfNoneMatch" not in w for w in writes[1:])
    assert writes[2]["IfMatch"] == failed_etag

    # ... and the window is done now: a third run does not submit again.
    third = make_monitor(local_stack, now=NOW + timedelta(days=3), **DRIFTING).run(window())
    assert third["retraining"]["triggered"] is False
    assert "already triggered" in third["retraining"]["reason"]


def test_a_claim_left_by_a_run_that_died_blocks_the_window_until_it_expires(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    drifting_window(writer)
    died = SubmitFails(RuntimeError("the function timed out mid-submission"))
    with pytest.raises(RuntimeError):
        make_monitor(local_stack, now=NOW, batch_client=died, **DRIFTING).run(window())
    pending, _ = window_marker(local_stack)
    assert pending["state"] == "pending"
    expires = NOW + PENDING_TTL
    assert timedelta(seconds=900) < PENDING_TTL  # longer than MonitorFunction's timeout

    just_before = make_monitor(
        local_stack, now=expires - timedelta(milliseconds=1), **DRIFTING
    ).run(window())
    assert just_before["retraining"]["triggered"] is False
    assert "claim expires" in just_before["retraining"]["reason"]
    assert retraining_jobs(local_stack) == []

    at_expiry = make_monitor(local_stack, now=expires, **DRIFTING).run(window())
    assert at_expiry["retraining"]["triggered"] is True, at_expiry["retraining"]["reason"]
    assert len(retraining_jobs(local_stack)) == 1


def test_a_marker_without_state_from_before_states_existed_is_understood(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    """Markers written by earlier releases: `job_id` set means submitted, `job_id: null`
    is a claim whose submission never happened (retried once expired)."""
    drifting_window(writer)
    key = f"reports/churn/retraining/windows/{window().key}.json"
    s3 = boto3.client("s3")
    legacy = {"window": window().as_dict(), "triggered_at": "2026-11-26T13:05:00.000Z"}
    s3.put_object(Bucket=local_stack.bucket, Key=key, Body=json.dumps({**legacy, "job_id": "j-1"}))
    done = make_monitor(local_stack, now=NOW + timedelta(days=1), **DRIFTING).run(window())
    assert "already triggered" in done["retraining"]["reason"]
    s3.put_object(Bucket=local_stack.bucket, Key=key, Body=json.dumps({**legacy, "job_id": None}))
    retried = make_monitor(local_stack, now=NOW + timedelta(days=1), **DRIFTING).run(window())
    assert retried["retraining"]["triggered"] is True, retried["retraining"]["reason"]
