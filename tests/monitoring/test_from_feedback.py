"""The loop closes: a DEGRADED window submits `train --from-feedback ...`, and running exactly
that command (the Batch job's container command) trains on the captured inputs joined with
their labels, checks parity and publishes a new version."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from embedded_aws.provision import LocalStack
from modelops.registry import ChallengerStage, ModelRegistry
from modelops_train.cli import EXIT_INVALID_DATA, EXIT_OK, main
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn, make_monitor, truth
from tests.monitoring.test_retraining import window


def test_degraded_window_retrains_from_feedback_and_publishes_a_new_version(
    local_stack: LocalStack,
    writer: CaptureWriter,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frame = churn(1500, seed=70, concept_drift=1.0)
    ids = writer.predictions(frame)
    writer.feedback(ids, truth(frame), received=WINDOW_START + timedelta(hours=2))
    report = make_monitor(local_stack, now=WINDOW_START + timedelta(hours=3)).run(window())
    assert report["status"] == "DEGRADED" and report["retraining"]["triggered"] is True
    job = boto3.client("batch").describe_jobs(jobs=[report["retraining"]["job_id"]])["jobs"][0]
    command = job["container"]["command"]
    environment = {e["name"]: e["value"] for e in job["container"]["environment"]}
    monkeypatch.setenv("MODELOPS_BUCKET", environment["MODELOPS_BUCKET"])
    capsys.readouterr()

    assert main(command) == EXIT_OK
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"] == "churn" and result["version"] == 2
    assert registry.list_versions("churn") == [1, 2]
    metadata = registry.get_metadata("churn", 2)
    source: dict[str, Any] = metadata["lineage"]["source"]
    assert (
        source["kind"] == "feedback"
        and source["joined"] == 1500
        and source["malformed_records"] == 0
    )
    assert metadata["features"] == registry.get_metadata("churn", 1)["features"]
    # trained on the drifted concept, it passes the offline gate and becomes the champion's
    # challenger (the stack's RetrainingPromote default): the champion moves on live evidence
    assert "--promote" in command and command[command.index("--promote") + 1] == "challenger"
    assert result["promoted"] is False
    assert result["challenger"]["version"] == 2 and result["challenger"]["champion_version"] == 1
    assert registry.resolve("churn") == 1
    challenger = ChallengerStage(registry).get("churn")
    assert challenger is not None and challenger.version == 2


def test_from_feedback_without_labels_is_a_clear_error(
    writer: CaptureWriter,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer.predictions(churn(100, seed=71))
    monkeypatch.setenv("MODELOPS_BUCKET", bucket)
    assert (
        main(
            ["train", "--from-feedback", "--model-name", "churn", "--since", "2026-11-26T00:00:00Z"]
        )
        == EXIT_INVALID_DATA
    )
    assert "have feedback labels yet" in capsys.readouterr().err


def test_captures_of_either_format_give_the_same_training_rows(
    writer: CaptureWriter, registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    from modelops_train.feedback import FeedbackDataSource

    frame = churn(300, seed=72)
    ids = [f"t-{i}" for i in range(300)]
    writer.feedback(ids, truth(frame), received=WINDOW_START + timedelta(hours=2))
    source = FeedbackDataSource(registry, "churn", since=WINDOW_START, s3_client=s3)
    loaded = {}
    for per_request in (0, 7):
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="capture/").get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        writer.predictions(frame, ids=ids, per_request=per_request)
        data = source.load()
        loaded[per_request] = data.frame.sort_index(axis=1).reset_index(drop=True)
        assert len(data.frame) == 300
    assert loaded[0].equals(loaded[7])
