"""The retraining cooldown at its boundary: a trigger exactly one cooldown after the last one
is allowed, one millisecond earlier is not (docs/MONITORING.md: "within the cooldown")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from embedded_aws.provision import LocalStack
from modelops.monitoring.objects import iso_millis
from modelops.monitoring.retraining import RetrainingSettings, RetrainingTrigger
from modelops.monitoring.window import Window

LAST = datetime(2026, 11, 26, 10, 0, 0, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=24)
WINDOW = Window(datetime(2026, 11, 27, 9, tzinfo=UTC), datetime(2026, 11, 27, 10, tzinfo=UTC))


def trigger_at(local_stack: LocalStack, now: datetime) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=local_stack.bucket,
        Key="reports/churn/retraining/last.json",
        Body=json.dumps({"triggered_at": iso_millis(LAST), "job_id": "job-before"}).encode(),
    )
    settings = RetrainingSettings(
        enabled=True,
        job_queue=local_stack.ref("TrainingJobQueue"),
        job_definition=local_stack.ref("TrainingJobDefinition"),
        cooldown=COOLDOWN,
        lookback=timedelta(days=30),
    )
    trigger = RetrainingTrigger(
        settings,
        bucket=local_stack.bucket,
        model_name="churn",
        s3_client=s3,
        batch_client=boto3.client("batch"),
        events_client=boto3.client("events"),
        clock=lambda: now,
    )
    return trigger.decide_and_act(WINDOW, {"status": "DRIFT", "model": {"name": "churn"}})


@pytest.mark.parametrize(
    ("after_last", "triggered"),
    [
        (COOLDOWN - timedelta(milliseconds=1), False),
        (COOLDOWN, True),
        (COOLDOWN + timedelta(milliseconds=1), True),
    ],
)
def test_retraining_is_allowed_from_exactly_one_cooldown_after_the_last_trigger(
    local_stack: LocalStack, after_last: timedelta, triggered: bool
) -> None:
    block = trigger_at(local_stack, LAST + after_last)
    assert block["triggered"] is triggered, block
    if not triggered:
        assert block["reason"] == (
            "cooldown: last retraining was triggered at 2026-11-26T10:00:00.000Z, "
            "next allowed after 2026-11-27T10:00:00.000Z"
        )
        assert block["last_job_id"] == "job-before"
