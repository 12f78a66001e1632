"""Acting on a window: the training job submitted once per window, never while one is queued
or running, never within the cooldown; the RetrainingRequested event put on EventBridge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.batch import batch_backends

from embedded_aws.provision import LocalStack
from embedded_aws.template import resource
from modelops.monitoring.retraining import EVENT_DETAIL_TYPE, EVENT_SOURCE, job_name_prefix
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


def test_no_trigger_while_a_retraining_job_is_queued_or_running(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    batch = boto3.client("batch")
    running = batch.submit_job(
        jobName=f"{job_name_prefix('churn')}-earlier",
        jobQueue=local_stack.ref("TrainingJobQueue"),
        jobDefinition=local_stack.ref("TrainingJobDefinition"),
    )["jobId"]
    # moto's Batch finishes jobs at once; put this one back to RUNNING, as a real one would be.
    backend = batch_backends["123456789012"]["us-east-1"]
    backend._jobs[running].status = "RUNNING"
    drifting_window(writer)
    report = make_monitor(local_stack, now=NOW, **DRIFTING).run(window())
    assert report["status"] == "DRIFT"
    assert report["retraining"]["triggered"] is False
    assert (
        "still RUNNING" in report["retraining"]["reason"]
        and running in report["retraining"]["reason"]
    )
    assert len(retraining_jobs(local_stack)) == 1

    backend._jobs[running].status = "SUCCEEDED"  # it finished: the window may trigger now
    assert (
        make_monitor(local_stack, now=NOW, **DRIFTING).run(window())["retraining"]["triggered"]
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
