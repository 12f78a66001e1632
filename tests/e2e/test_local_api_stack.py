"""`make api`: the stack's functions over HTTP on embedded AWS, called with a real HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from embedded_aws.local_api import RunningApi, stack_api

pytestmark = pytest.mark.integration
KEY = "e2e-key"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningApi]:
    with stack_api(api_key=KEY, port=0, stack_name=f"e2e-api-{uuid.uuid4().hex[:8]}") as api:
        yield api


def post(url: str, body: Any, *, key: str | None = KEY) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} | ({"x-api-key": key} if key else {})
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_predict_then_feedback_over_http_is_captured(running: RunningApi) -> None:
    status, payload = post(
        f"{running.url}/predict",
        {
            "instances": [{"tenure_months": 12, "plan": "basic", "monthly_charges": 42.5}],
            "inference_ids": ["http-1"],
        },
    )
    assert status == 200
    assert payload["model"] == {"name": "churn", "version": running.champion_version}
    (prediction,) = payload["predictions"]
    assert (
        prediction["inference_id"] == "http-1"
        and prediction["label"] in prediction["probabilities"]
    )

    assert post(
        f"{running.url}/feedback", {"labels": [{"inference_id": "http-1", "label": "no"}]}
    ) == (202, {"accepted": 1})

    s3 = boto3.client("s3", endpoint_url=running.aws_endpoint)
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=running.stack.bucket, Prefix="capture/churn/").get(
            "Contents", []
        )
    ]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=running.stack.bucket, Key=key)["Body"]
        .read()
        .decode()
        .splitlines()
        if line
    ]
    captured = [r for r in records if r["eventMetadata"]["inferenceId"] == "http-1"]
    assert len(captured) == 1 and captured[0]["eventMetadata"]["source"] == "api"
    assert captured[0]["output"]["label"] == prediction["label"]


def test_without_the_api_key_it_is_403_and_unknown_routes_404(running: RunningApi) -> None:
    status, payload = post(f"{running.url}/predict", {"instances": [{}]}, key=None)
    assert status == 403 and payload["error"]["type"] == "Forbidden"
    status, payload = post(f"{running.url}/predict", {"instances": [{}]}, key="not-the-key")
    assert status == 403
    status, payload = post(f"{running.url}/nowhere", {})
    assert status == 404 and payload["error"]["type"] == "NotFound"


def test_invalid_input_is_a_400_listing_every_problem(running: RunningApi) -> None:
    status, payload = post(
        f"{running.url}/predict", {"instances": [{"tenure_months": "abc"}, {"no_such_feature": 1}]}
    )
    assert status == 400
    problems = {(d.get("row"), d.get("field")) for d in payload["error"]["details"]}
    assert (0, "tenure_months") in problems and (1, "no_such_feature") in problems
