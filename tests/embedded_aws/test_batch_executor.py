"""The local executor runs each job submitted to moto's Batch queue once, as its container would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest

from embedded_aws.batch_executor import (
    CLAIM_TAG,
    EXIT_CODE_TAG,
    LocalBatchExecutor,
    substitute_parameters,
)
from embedded_aws.provision import LocalStack

# A stand-in for the image's entry point: records its argv and environment, exits as told.
RECORDER = """
import json, os, sys
out = sys.argv[1]
with open(out, "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[2:], "env": dict(os.environ)}) + "\\n")
print("ran", *sys.argv[2:])
sys.exit(3 if "--fail" in sys.argv else 0)
"""


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "entry.py"
    script.write_text(RECORDER)
    record = tmp_path / "runs.jsonl"
    return [sys.executable, str(script), str(record)], record


def submit(stack: LocalStack, name: str, **kwargs: object) -> str:
    job = boto3.client("batch").submit_job(
        jobName=name,
        jobQueue=stack.ref("TrainingJobQueue"),
        jobDefinition=stack.ref("TrainingJobDefinition"),
        **kwargs,  # type: ignore[arg-type]
    )
    return str(job["jobId"])


def test_substitution_replaces_whole_placeholders_and_keeps_unknown_ones() -> None:
    command = ["train", "--model-name", "Ref::model_name", "--since", "Ref::since", "Ref::unknown"]
    assert substitute_parameters(
        command, {"model_name": "churn", "since": "2026-11-26T12:00:00Z"}
    ) == [
        "train",
        "--model-name",
        "churn",
        "--since",
        "2026-11-26T12:00:00Z",
        "Ref::unknown",
    ]


def test_runs_the_job_definition_command_with_default_parameters_and_container_environment(
    local_stack: LocalStack, recorder: tuple[list[str], Path]
) -> None:
    entry_point, record = recorder
    job_id = submit(local_stack, "retrain-1")
    executor = LocalBatchExecutor(local_stack.ref("TrainingJobQueue"), entry_point=entry_point)

    runs = executor.run_pending()

    assert [r.job_id for r in runs] == [job_id]
    assert runs[0].succeeded and runs[0].stdout.startswith("ran train")
    seen = json.loads(record.read_text())
    assert seen["argv"] == [
        "train",
        "--from-feedback",
        "--model-name",
        "churn",
        "--promote",
        "challenger",
    ]
    assert seen["env"]["MODELOPS_BUCKET"] == local_stack.bucket
    assert seen["env"]["AWS_BATCH_JOB_ID"] == job_id
    assert runs[0].command == seen["argv"] and runs[0].argv == [*entry_point, *seen["argv"]]


def test_submitted_command_and_parameters_override_the_definition(
    local_stack: LocalStack, recorder: tuple[list[str], Path]
) -> None:
    entry_point, record = recorder
    submit(
        local_stack,
        "retrain-window",
        parameters={"model_name": "churn-eu", "since": "2026-11-26T12:00:00Z"},
        containerOverrides={
            "command": [
                "train",
                "--from-feedback",
                "--model-name",
                "Ref::model_name",
                "--since",
                "Ref::since",
            ],
            "environment": [{"name": "MODEL_NAME", "value": "churn-eu"}],
        },
    )
    LocalBatchExecutor(local_stack.ref("TrainingJobQueue"), entry_point=entry_point).run_pending()

    seen = json.loads(record.read_text())
    assert seen["argv"] == [
        "train",
        "--from-feedback",
        "--model-name",
        "churn-eu",
        "--since",
        "2026-11-26T12:00:00Z",
    ]
    assert seen["env"]["MODEL_NAME"] == "churn-eu"


def test_a_job_is_never_run_twice_even_by_another_executor(
    local_stack: LocalStack, recorder: tuple[list[str], Path]
) -> None:
    entry_point, record = recorder
    first_id = submit(local_stack, "first")
    queue = local_stack.ref("TrainingJobQueue")
    assert len(LocalBatchExecutor(queue, entry_point=entry_point).run_pending()) == 1
    assert LocalBatchExecutor(queue, entry_point=entry_point).run_pending() == []

    second_id = submit(local_stack, "second")
    runs = LocalBatchExecutor(queue, entry_point=entry_point).run_pending()

    assert [r.job_id for r in runs] == [second_id]
    assert len(record.read_text().splitlines()) == 2
    arn = boto3.client("batch").describe_jobs(jobs=[first_id])["jobs"][0]["jobArn"]
    tags = boto3.client("batch").list_tags_for_resource(resourceArn=arn)["tags"]
    assert CLAIM_TAG in tags and tags[EXIT_CODE_TAG] == "0"


def test_a_failing_command_is_reported_with_its_exit_code_and_output(
    local_stack: LocalStack, recorder: tuple[list[str], Path]
) -> None:
    entry_point, _ = recorder
    submit(local_stack, "bad", containerOverrides={"command": ["train", "--fail"]})
    (run,) = LocalBatchExecutor(
        local_stack.ref("TrainingJobQueue"), entry_point=entry_point
    ).run_pending()
    assert not run.succeeded
    assert run.exit_code == 3
    assert "ran train --fail" in run.stdout


def test_a_job_over_its_timeout_is_stopped_and_reported(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time; time.sleep(30)\n")
    submit(local_stack, "slow")
    executor = LocalBatchExecutor(
        local_stack.ref("TrainingJobQueue"),
        entry_point=[sys.executable, str(script)],
        timeout_seconds=0.5,
    )
    (run,) = executor.run_pending()
    assert run.exit_code == 124
    assert "timed out" in run.stderr
