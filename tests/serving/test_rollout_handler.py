"""PredictFunction with a challenger: shadow captures both outputs under one inference id and
answers with the champion; canary answers its share and says which version answered."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from modelops.registry import ChallengerStage, ModelRegistry
from modelops.rollout.routing import rollout_salt, routes_to_challenger
from tests.models import publish_trained, sample_rows
from tests.serving.conftest import FakeLambdaContext, api_event, handler_of

Loader = Callable[..., ModuleType]


@pytest.fixture
def two_versions(registry: ModelRegistry) -> ModelRegistry:
    publish_trained(registry, "binary", promote=True)
    publish_trained(registry, "binary", promote=False)
    return registry


def captured(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"eventVersion"')]


def test_shadow_answers_with_the_champion_and_captures_both(
    predict_handler: Loader, two_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    ChallengerStage(two_versions).start("churn", 2, mode="shadow", reason="r")
    app = predict_handler(CAPTURE_SINK="log")
    instances, _ = sample_rows("binary", 3)
    ids = ["a-1", "a-2", "a-3"]
    capsys.readouterr()
    response = handler_of(app)(
        api_event({"instances": instances, "inference_ids": ids}), FakeLambdaContext()
    )
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["model"]["version"] == 1
    assert all("model" not in p for p in body["predictions"])  # shadow never shows
    records = captured(capsys.readouterr().out)
    assert [r["eventMetadata"]["inferenceId"] for r in records] == ids
    # The handler timed both versions' scoring of the request: the same on every row.
    latencies = [r["rollout"].pop("latency_ms") for r in records]
    assert latencies == [latencies[0]] * len(records)
    assert latencies[0]["champion"] > 0 and latencies[0]["challenger"] > 0
    for record, prediction in zip(records, body["predictions"], strict=True):
        assert record["model"]["version"] == 1
        assert record["shadow"]["model"] == {"name": "churn", "version": 2}
        assert record["shadow"]["output"] == {k: prediction[k] for k in ("label", "probabilities")}
        assert record["rollout"] == {
            "mode": "shadow",
            "champion_version": 1,
            "challenger_version": 2,
        }


def test_canary_response_says_which_version_answered(
    predict_handler: Loader, two_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    ChallengerStage(two_versions).start("churn", 2, mode="canary", weight=0.5, reason="r")
    app = predict_handler(CAPTURE_SINK="log")
    instances, _ = sample_rows("binary", 40)
    ids = [f"c-{i}" for i in range(40)]
    capsys.readouterr()
    response = handler_of(app)(
        api_event({"instances": instances, "inference_ids": ids}), FakeLambdaContext()
    )
    body = json.loads(response["body"])
    salt = rollout_salt("churn", 2)
    expected = [2 if routes_to_challenger(i, 0.5, salt) else 1 for i in ids]
    assert [p["model"]["version"] for p in body["predictions"]] == expected
    assert 1 in expected and 2 in expected
    records = captured(capsys.readouterr().out)
    assert [r["model"]["version"] for r in records] == expected


def test_a_broken_challenger_never_fails_a_request(
    predict_handler: Loader, two_versions: ModelRegistry, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="models/churn/v2/model.onnx", Body=b"broken")
    ChallengerStage(two_versions).start("churn", 2, mode="canary", weight=1.0, reason="r")
    app = predict_handler()
    instances, _ = sample_rows("binary", 5)
    response = handler_of(app)(api_event({"instances": instances}), FakeLambdaContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert {p["model"]["version"] for p in body["predictions"]} == {1}


def test_a_pinned_version_runs_no_challenger(
    predict_handler: Loader, two_versions: ModelRegistry
) -> None:
    ChallengerStage(two_versions).start("churn", 2, mode="canary", weight=1.0, reason="r")
    app = predict_handler(MODEL_VERSION="1")
    instances, _ = sample_rows("binary", 5)
    body = json.loads(
        handler_of(app)(api_event({"instances": instances}), FakeLambdaContext())["body"]
    )
    assert all("model" not in p for p in body["predictions"]) and body["model"]["version"] == 1
