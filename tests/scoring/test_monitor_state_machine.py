"""MonitorStateMachine runs its own definition file (monitor.asl.json) on moto's Step
Functions interpreter, MonitorFunction's real handler in every step: the window a batch
run captured gives the sharded report the single-function run gives, and a scheduled run
of a window above MonitorShardThreshold objects hands it to the state machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from embedded_aws.state_machines import run_execution
from modelops import workflows
from tests.scoring.conftest import ServedStack
from tests.scoring.test_batch_scoring import PREFIX, _write_inputs

pytestmark = pytest.mark.integration


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _invoke(served: ServedStack, event: dict[str, Any]) -> dict[str, Any]:
    response = boto3.client("lambda").invoke(
        FunctionName=served.stack.ref("MonitorFunction"), Payload=json.dumps(event).encode()
    )
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_a_window_sharded_by_the_state_machine_reports_as_one_function(
    served_stack: ServedStack,
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    _write_inputs(served_stack)
    run_execution(
        served_stack.stack.ref("BatchScoringStateMachine"),
        {
            "input": f"s3://{served_stack.bucket}/{PREFIX}",
            "id_column": "customer",
            "chunk_bytes": 1024,
        },
    )
    window = {
        "window": {"start": _iso(started), "end": _iso(datetime.now(UTC) + timedelta(minutes=1))}
    }
    single = _invoke(served_stack, window)
    assert single["counts"]["predictions"] == 70
    for shards in (1, 3):
        sharded = run_execution(
            served_stack.stack.ref("MonitorStateMachine"), {**window, "shards": shards}
        )
        scan = sharded.pop("sharded_scan")
        assert (scan["shards"], scan["failed_shards"], scan["skipped_objects"]) == (shards, [], 0)
        assert sharded == single, f"{shards} shards"


def test_the_schedule_hands_a_large_window_to_the_state_machine(served_stack: ServedStack) -> None:
    # MonitorShardThreshold is 0 in this stack: any window with an object is "large".
    _write_inputs(served_stack)
    run_execution(
        served_stack.stack.ref("BatchScoringStateMachine"),
        {"input": f"s3://{served_stack.bucket}/{PREFIX}", "id_column": "customer"},
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    delegated = _invoke(served_stack, {"time": _iso(later), "detail-type": "Scheduled Event"})
    assert delegated["status"] == "DELEGATED", delegated
    assert delegated["objects"] >= 1
    sfn = boto3.client("stepfunctions")
    summary = workflows.wait(sfn, delegated["execution"], timeout=300, poll_seconds=0.2)
    assert summary["window"] == delegated["window"]
    assert summary["counts"]["predictions"] == 70
    assert summary["sharded_scan"]["skipped_objects"] == 0
