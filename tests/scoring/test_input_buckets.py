"""Batch scoring reads datasets from the stack's bucket and, when the stack names them, from
other buckets: BatchScoringFunction's policies resolved as CloudFormation resolves them."""

from __future__ import annotations

from typing import Any

import pytest

from embedded_aws.template import load_template, resolve, resource

REFS = {
    "ModelOpsBucket": "modelops-bucket",
    "ModelOpsBucket.Arn": "arn:aws:s3:::modelops-bucket",
    "PredictFunction.Alias": "arn:aws:lambda:us-east-1:123456789012:function:predict:live",
}


def _statements(**parameters: Any) -> dict[str, dict[str, Any]]:
    doc = load_template()
    policies = resolve(
        resource("BatchScoringFunction", doc)["Properties"]["Policies"], {**REFS, **parameters}, doc
    )
    found = [s for policy in policies for s in policy["Statement"]]
    return {s["Sid"]: s for s in found}


def test_by_default_inputs_are_read_from_the_stacks_bucket_only() -> None:
    statements = _statements()
    assert set(statements) == {
        "ReadModelsAndInputs",
        "ListInputs",
        "WriteRuns",
        "PredictDirectDoor",
    }
    assert statements["ReadModelsAndInputs"]["Resource"] == "arn:aws:s3:::modelops-bucket/*"


@pytest.mark.parametrize(
    ("buckets", "objects", "listed"),
    [
        (["raw-data"], ["arn:aws:s3:::raw-data/*"], ["arn:aws:s3:::raw-data"]),
        (
            ["raw-data", "lake.example"],
            ["arn:aws:s3:::raw-data/*", "arn:aws:s3:::lake.example/*"],
            ["arn:aws:s3:::raw-data", "arn:aws:s3:::lake.example"],
        ),
    ],
)
def test_named_input_buckets_are_readable_and_listable_not_writable(
    buckets: list[str], objects: list[str], listed: list[str]
) -> None:
    statements = _statements(BatchScoringInputBuckets=buckets)
    assert statements["ReadInputsInOtherBuckets"]["Action"] == "s3:GetObject"
    assert statements["ReadInputsInOtherBuckets"]["Resource"] == objects
    assert statements["ListInputsInOtherBuckets"]["Action"] == "s3:ListBucket"
    assert statements["ListInputsInOtherBuckets"]["Resource"] == listed
    # writes stay under the stack's own scoring prefix
    assert statements["WriteRuns"]["Resource"] == "arn:aws:s3:::modelops-bucket/scoring/churn/*"
