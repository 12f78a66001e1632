"""The run's manifest: failed items are counted and named, and the tolerated share holds at
its boundary; the direct door's batch options are checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.errors import InvalidInput
from modelops.scoring.job import IncompleteRun, finish
from modelops.serving.service import split_batch_options

OUTPUT = "runs/r1/"


def _run(s3: Any, bucket: str, *, items: int, done: int, tolerated: float) -> dict[str, Any]:
    plan = {
        "run_id": "r1",
        "input": f"s3://{bucket}/in/",
        "output": f"s3://{bucket}/{OUTPUT}",
        "model": {"name": "churn", "version": 3},
        "tolerated_failure_percentage": tolerated,
        "skipped_objects": [],
    }
    s3.put_object(Bucket=bucket, Key=f"{OUTPUT}_plan/plan.json", Body=json.dumps(plan))
    listed = [{"index": i, "key": f"in/{i}.csv", "start": 0, "end": 10} for i in range(items)]
    s3.put_object(Bucket=bucket, Key=f"{OUTPUT}_plan/items.json", Body=json.dumps(listed))
    for i in range(done):
        counts = {"rows": 10, "scored": 9, "rejected": 1}
        s3.put_object(
            Bucket=bucket, Key=f"{OUTPUT}_parts/part-{i:05d}.json", Body=json.dumps(counts)
        )
    return {"output": plan["output"]}


def _manifest(s3: Any, bucket: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=f"{OUTPUT}manifest.json")["Body"].read())


def test_every_item_done_is_success_with_summed_counts(s3: Any, bucket: str) -> None:
    summary = finish(_run(s3, bucket, items=4, done=4, tolerated=0), s3=s3)
    assert summary["status"] == "SUCCEEDED"
    assert summary["counts"] == {
        "items": 4,
        "rows": 40,
        "scored": 36,
        "rejected": 4,
        "failed_items": 0,
        "failed_objects": 0,
    }


@pytest.mark.parametrize(
    ("tolerated", "status"), [(25.0, "PARTIAL"), (25.1, "PARTIAL"), (24.9, None)]
)
def test_failed_items_are_tolerated_up_to_the_share_and_no_further(
    s3: Any, bucket: str, tolerated: float, status: str | None
) -> None:
    run = _run(s3, bucket, items=4, done=3, tolerated=tolerated)  # 1 of 4 failed: 25 %
    if status is None:
        with pytest.raises(IncompleteRun, match=r"1 of 4 items failed \(25.0% > 24.9% tolerated\)"):
            finish(run, s3=s3)
        assert _manifest(s3, bucket)["status"] == "FAILED"  # written before failing
    else:
        assert finish(run, s3=s3)["status"] == status
    manifest = _manifest(s3, bucket)
    assert manifest["failed_items"] == [{"index": 3, "key": "in/3.csv", "start": 0, "end": 10}]
    assert manifest["counts"]["rows"] == 30


def test_batch_options_of_the_direct_door() -> None:
    body = {"instances": [{"a": 1}]}
    assert split_batch_options(body) == (body, None)
    assert split_batch_options({**body, "batch": {"model_version": 3}}) == (body, 3)
    for bad in (
        {},
        {"model_version": 0},
        {"model_version": True},
        {"model_version": "3"},
        {"model_version": 3, "source": "api"},
        [3],
    ):
        with pytest.raises(InvalidInput) as raised:
            split_batch_options({**body, "batch": bad})
        assert raised.value.details()[0]["field"] == "batch"
