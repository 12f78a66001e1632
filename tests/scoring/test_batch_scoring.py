"""BatchScoringStateMachine runs its own definition file (batch-scoring.asl.json) on moto's
Step Functions interpreter; its Lambda steps and PredictFunction run their real handlers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import boto3
import pytest

from embedded_aws.state_machines import run_execution
from modelops.scoring.inputs import row_id
from modelops.workflows import ExecutionFailedError
from modelops_train.cli import main as modelops_main
from tests.models import publish_trained, sample_rows
from tests.scoring.conftest import ServedStack

pytestmark = pytest.mark.integration

PREFIX = "datasets/nightly/"


def _write_inputs(served: ServedStack) -> dict[str, Any]:
    """50 CSV rows with ids (and a target column the model does not take), 2 bad CSV rows,
    20 JSON Lines rows without ids, and two objects that are not scoring inputs."""
    instances, targets = sample_rows("binary", 50)
    names = [f["name"] for f in served.champion["features"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["customer", *names, "churned"])
    for i, (row, target) in enumerate(zip(instances, targets, strict=True)):
        writer.writerow([f"c{i}", *["" if row[n] is None else row[n] for n in names], target])
    numeric = next(f["name"] for f in served.champion["features"] if f["kind"] == "numeric")
    bad = {**instances[0], numeric: "abc"}
    writer.writerow(["bad-number", *["" if bad[n] is None else bad[n] for n in names], "no"])
    out.write("bad-fields,1,2\n")
    s3, bucket = served.s3, served.bucket
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}a.csv", Body=out.getvalue().encode())
    jsonl = b"".join(json.dumps(r).encode() + b"\n" for r in instances[:20])
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}b.jsonl", Body=jsonl)
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}README.txt", Body=b"not data")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}c.csv.gz", Body=b"\x1f\x8b")
    offsets, offset = [], 0
    for line in jsonl.splitlines(keepends=True):
        offsets.append(offset)
        offset += len(line)
    jsonl_ids = [row_id(bucket, f"{PREFIX}b.jsonl", o) for o in offsets]
    return {"instances": instances, "csv_ids": [f"c{i}" for i in range(50)], "jsonl_ids": jsonl_ids}


def _jsonl_under(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            records += [json.loads(line) for line in body.splitlines() if line.strip()]
    return records


def _direct_labels(served: ServedStack, instances: list[dict[str, Any]]) -> list[Any]:
    """What PredictFunction's direct door answers for these rows (no batch options)."""
    response = boto3.client("lambda").invoke(
        FunctionName=served.stack.ref("PredictFunction"),
        Payload=json.dumps({"instances": instances}).encode(),
    )
    assert "FunctionError" not in response
    return [p["label"] for p in json.loads(response["Payload"].read())["predictions"]]


def test_a_prefix_is_scored_captured_and_counted(served_stack: ServedStack) -> None:
    data = _write_inputs(served_stack)
    bucket = served_stack.bucket
    summary = run_execution(
        served_stack.stack.ref("BatchScoringStateMachine"),
        # small chunks: the CSV is split into several row ranges, one Map child each
        {"input": f"s3://{bucket}/{PREFIX}", "id_column": "customer", "chunk_bytes": 1024},
    )
    assert summary["status"] == "SUCCEEDED"
    assert summary["model"] == {"name": "churn", "version": 1}
    assert summary["counts"]["rows"] == 72
    assert summary["counts"]["scored"] == 70
    assert summary["counts"]["rejected"] == 2
    assert summary["counts"]["items"] > 2  # the objects were split

    output = summary["output"].removeprefix(f"s3://{bucket}/")
    results = _jsonl_under(served_stack.s3, bucket, f"{output}results/")
    by_id = {r["inference_id"]: r for r in results}
    assert len(results) == len(by_id) == 70
    assert set(by_id) == set(data["csv_ids"]) | set(data["jsonl_ids"])
    assert {json.dumps(r["model"]) for r in results} == {'{"name": "churn", "version": 1}'}
    # the same answers as the direct door gives for the same rows (CSV text became numbers)
    expected = _direct_labels(served_stack, data["instances"])
    assert [by_id[i]["label"] for i in data["csv_ids"]] == expected
    assert [by_id[i]["label"] for i in data["jsonl_ids"]] == expected[:20]

    rejected = {
        r["inference_id"]: r for r in _jsonl_under(served_stack.s3, bucket, f"{output}rejected/")
    }
    assert set(rejected) == {"bad-number", "bad-fields"}
    assert "expected a number" in rejected["bad-number"]["problem"]
    assert rejected["bad-fields"]["problem"].startswith("expected ")

    manifest = json.loads(
        served_stack.s3.get_object(Bucket=bucket, Key=f"{output}manifest.json")["Body"].read()
    )
    assert manifest["counts"] == {**summary["counts"], "failed_items": 0}
    skipped = {s["key"].removeprefix(PREFIX): s["reason"] for s in manifest["skipped_objects"]}
    assert set(skipped) == {"README.txt", "c.csv.gz"}
    assert "compressed" in skipped["c.csv.gz"]

    # captured with source "batch", so the monitor sees the run (the direct call: "direct")
    captured = _jsonl_under(served_stack.s3, bucket, "capture/churn/")
    batch = [c for c in captured if c["eventMetadata"]["source"] == "batch"]
    assert {c["eventMetadata"]["inferenceId"] for c in batch} == set(by_id)
    assert len(batch) == 70
    assert {c["model"]["version"] for c in batch} == {1}


def test_a_pinned_version_scores_every_row_and_a_missing_one_fails_by_name(
    served_stack: ServedStack,
) -> None:
    publish_trained(served_stack.registry, "binary", promote=False)  # v2, not champion
    _write_inputs(served_stack)
    arn = served_stack.stack.ref("BatchScoringStateMachine")
    source = f"s3://{served_stack.bucket}/{PREFIX}"
    summary = run_execution(arn, {"input": source, "model_version": 2, "run_id": "pinned"})
    assert summary["model"]["version"] == 2
    results = _jsonl_under(served_stack.s3, served_stack.bucket, "scoring/churn/pinned/results/")
    assert len(results) == 70
    assert {r["model"]["version"] for r in results} == {2}

    with pytest.raises(ExecutionFailedError) as failed:
        run_execution(arn, {"input": source, "model_version": 99})
    assert failed.value.description["error"] == "ModelNotFoundError"
    with pytest.raises(ExecutionFailedError) as failed:
        run_execution(arn, {"input": f"s3://{served_stack.bucket}/nothing-here/"})
    assert failed.value.description["error"] == "InvalidInput"
    assert "nothing to score" in failed.value.description["cause"]


def test_modelops_score_starts_a_run_and_prints_its_summary(
    served_stack: ServedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_inputs(served_stack)
    arn = served_stack.stack.ref("BatchScoringStateMachine")
    code = modelops_main(
        [
            "score",
            "--input",
            f"s3://{served_stack.bucket}/{PREFIX}",
            "--state-machine",
            arn,
            "--id-column",
            "customer",
            "--run-id",
            "cli-run",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["run_id"] == "cli-run"
    assert summary["counts"]["scored"] == 70

    code = modelops_main(["score", "--input", "s3://x/y/", "--state-machine", ""])
    assert code == 2
    assert "no state machine" in capsys.readouterr().err
    code = modelops_main(
        [
            "score",
            "--input",
            f"s3://{served_stack.bucket}/{PREFIX}",
            "--state-machine",
            arn,
            "--model-version",
            "99",
        ]
    )
    assert code == 9
    assert "ModelNotFoundError" in capsys.readouterr().err
