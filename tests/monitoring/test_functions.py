"""FeedbackFunction and MonitorFunction called the way Lambda calls them: handlers loaded from
template.yaml's CodeUri/Handler, environments resolved against the stack, events from events/."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.provision import LocalStack
from embedded_aws.template import REPO_ROOT
from modelops.errors import InvalidInput
from modelops.registry import ModelRegistry
from tests.models import publish_trained
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn

EVENTS = REPO_ROOT / "events"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(EVENTS, name).read_text())
    return loaded


def api_event(body: Any, **headers: str) -> dict[str, Any]:
    e = event("feedback_api.json")
    e["body"] = body if isinstance(body, str) else json.dumps(body)
    e["headers"] = {**e["headers"], **headers}
    return e


def feedback_objects(s3: Any, bucket: str) -> list[dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="feedback/churn/").get("Contents", [])
    records = []
    for obj in listed:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
        records += [{"key": obj["Key"], **json.loads(line)} for line in body.splitlines()]
    return records


@pytest.fixture
def feedback_fn(local_stack: LocalStack) -> LocalFunction:
    return LocalFunction.from_stack(local_stack, "FeedbackFunction", stdout=io.StringIO())


def test_feedback_over_the_api_is_accepted_and_written_as_contract_records(
    feedback_fn: LocalFunction, binary_champion: dict[str, Any], s3: Any, bucket: str
) -> None:
    response = feedback_fn.invoke(event("feedback_api.json"))
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"accepted": 2}
    records = feedback_objects(s3, bucket)
    assert [(r["inferenceId"], r["label"]) for r in records] == [
        ("order-1234", "no"),
        ("order-1235", "yes"),
    ]
    record = records[0]
    assert set(record) == {"key", "eventVersion", "inferenceId", "label", "receivedTime"}
    assert record["eventVersion"] == "1"
    hour = record["receivedTime"][:13].replace("-", "/").replace("T", "/")
    assert record["key"].startswith(f"feedback/churn/{hour}/")


def test_feedback_by_direct_invocation(
    feedback_fn: LocalFunction, binary_champion: dict[str, Any], s3: Any, bucket: str
) -> None:
    assert feedback_fn.invoke(event("feedback_direct.json")) == {"accepted": 2}
    with pytest.raises(InvalidInput) as raised:
        feedback_fn.invoke({"labels": [{"inference_id": "a", "label": "maybe"}]})
    assert "row 0, field 'label'" in str(raised.value)
    assert len(feedback_objects(s3, bucket)) == 2


@pytest.mark.parametrize(
    ("body", "details"),
    [
        # The same words as POST /predict for the same problems (modelops.messages).
        (
            {},
            [{"field": "labels", "problem": "expected an array of 1 to 1000 labels, got nothing"}],
        ),
        (
            {"labels": []},
            [
                {
                    "field": "labels",
                    "problem": "expected an array of 1 to 1000 labels, got an empty array",
                }
            ],
        ),
        (
            {"labels": [{"inference_id": "a", "label": "no"}], "extra": 1},
            [{"field": "extra", "problem": "unknown key; expected: labels"}],
        ),
        (
            {"labels": ["no"]},
            [{"row": 0, "problem": 'expected an object with inference_id and label, got "no"'}],
        ),
        (
            {"labels": [{"label": "no"}]},
            [{"row": 0, "field": "inference_id", "problem": "expected a string, got nothing"}],
        ),
        (
            {"labels": [{"inference_id": " ", "label": "no"}]},
            [{"row": 0, "field": "inference_id", "problem": "must not be empty"}],
        ),
        (
            {
                "labels": [
                    {"inference_id": "a", "label": "no"},
                    {"inference_id": "a", "label": "yes"},
                ]
            },
            [{"row": 1, "field": "inference_id", "problem": 'duplicate of row 0 ("a")'}],
        ),
        (
            {"labels": [{"inference_id": "a", "label": "maybe"}]},
            [
                {
                    "row": 0,
                    "field": "label",
                    "problem": 'expected one of the model\'s classes (no, yes), got "maybe"',
                }
            ],
        ),
        (
            {"labels": [{"inference_id": "a"}]},
            [
                {
                    "row": 0,
                    "field": "label",
                    "problem": "expected one of the model's classes (no, yes), got nothing",
                }
            ],
        ),
        (
            {"labels": [{"inference_id": "a", "value": 1.5}]},
            [{"row": 0, "field": "value", "problem": 'a binary model takes "label", not "value"'}],
        ),
        (
            {"labels": [{"inference_id": "a", "label": "no", "score": 1}]},
            [
                {
                    "row": 0,
                    "field": "score",
                    "problem": "unknown key; expected: inference_id, label, value",
                }
            ],
        ),
        (
            {
                "labels": [
                    {"inference_id": "a", "label": "no"},
                    {"inference_id": 7, "label": "perhaps"},
                ]
            },
            [
                {"row": 1, "field": "inference_id", "problem": "expected a string, got 7"},
                {
                    "row": 1,
                    "field": "label",
                    "problem": 'expected one of the model\'s classes (no, yes), got "perhaps"',
                },
            ],
        ),
    ],
)
def test_each_feedback_validation_error_is_a_400_naming_index_and_field(
    feedback_fn: LocalFunction,
    binary_champion: dict[str, Any],
    s3: Any,
    bucket: str,
    body: Any,
    details: list[dict[str, Any]],
) -> None:
    response = feedback_fn.invoke(api_event(body))
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["type"] == "InvalidInput"
    assert error["details"] == details
    assert feedback_objects(s3, bucket) == []  # all or nothing


def test_feedback_transport_errors(
    feedback_fn: LocalFunction, binary_champion: dict[str, Any], s3: Any, bucket: str
) -> None:
    assert feedback_fn.invoke(api_event("{not json"))["statusCode"] == 400
    assert (
        feedback_fn.invoke(api_event({"labels": []}, **{"Content-Type": "text/plain"}))[
            "statusCode"
        ]
        == 415
    )
    too_many = {"labels": [{"inference_id": f"id-{i}", "label": "no"} for i in range(1001)]}
    response = feedback_fn.invoke(api_event(too_many))
    assert response["statusCode"] == 413
    assert json.loads(response["body"])["error"]["details"] == [
        {"field": "labels", "problem": "1001 labels; at most 1000 per request"}
    ]
    assert feedback_objects(s3, bucket) == []


def test_feedback_for_a_regression_model_takes_finite_values(
    feedback_fn: LocalFunction, registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    publish_trained(registry, "regression", name="churn")
    bad = {
        "labels": [
            {"inference_id": "a", "label": "x"},
            {"inference_id": "b", "value": "12"},
            {"inference_id": "c", "value": True},
        ]
    }
    details = json.loads(feedback_fn.invoke(api_event(bad))["body"])["error"]["details"]
    assert [(d["row"], d["field"]) for d in details] == [(0, "label"), (1, "value"), (2, "value")]
    nan = feedback_fn.invoke(api_event('{"labels": [{"inference_id": "d", "value": NaN}]}'))
    assert json.loads(nan["body"])["error"]["details"] == [
        {"row": 0, "field": "value", "problem": "expected a finite number, got NaN"}
    ]
    assert feedback_fn.invoke(
        {"labels": [{"inference_id": "a", "value": 17.2}, {"inference_id": "b", "value": 3}]}
    ) == {"accepted": 2}
    assert [r["value"] for r in feedback_objects(s3, bucket)] == [17.2, 3.0]


def test_feedback_without_a_champion_is_503(feedback_fn: LocalFunction, bucket: str) -> None:
    response = feedback_fn.invoke(event("feedback_api.json"))
    assert response["statusCode"] == 503
    assert "no champion" in json.loads(response["body"])["error"]["message"]


@pytest.mark.parametrize("event_file", ["monitor_window.json", "monitor_scheduled.json"])
def test_monitor_function_with_the_scheduled_and_the_direct_event(
    local_stack: LocalStack, writer: CaptureWriter, event_file: str
) -> None:
    frame = churn(500, seed=50)
    ids = writer.predictions(frame)
    writer.feedback(ids[:250], frame["churned"].tolist()[:250], received=WINDOW_START)
    logs = io.StringIO()
    monitor_fn = LocalFunction.from_stack(local_stack, "MonitorFunction", stdout=logs)
    summary = monitor_fn.invoke(event(event_file))
    assert summary["model"] == {"name": "churn", "version": 1}
    assert summary["window"] == {"start": "2026-11-26T12:00:00Z", "end": "2026-11-26T13:00:00Z"}
    assert summary["status"] == "OK"
    assert summary["counts"]["predictions"] == 500 and summary["counts"]["labeled"] == 250
    assert summary["counts"]["malformed"] == 0
    assert set(summary["drift"]["features"]["monthly_charges"]) >= {"drifted", "method", "score"}
    assert (
        summary["performance"]["metrics"]["accuracy"] > 0.5
        and "accuracy" in summary["performance"]["baseline"]
    )
    assert summary["retraining"]["triggered"] is False and summary["retraining"]["reason"]
    json.dumps(summary, allow_nan=False)

    emitted = [
        json.loads(line)
        for line in logs.getvalue().splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]
    names = {
        m["Name"]
        for blob in emitted
        for d in blob["_aws"]["CloudWatchMetrics"]
        for m in d["Metrics"]
    }
    assert {
        "MonitorRows",
        "DriftedFeatureShare",
        "DatasetDrift",
        "LabelCoverage",
        "FeatureDriftScore",
        "ModelPerformance",
        "EstimatedPrimaryMetric",
        "EstimatedPerformanceDegraded",
    } <= names
    feature_blobs = [b for b in emitted if "Feature" in b]
    assert {b["Feature"] for b in feature_blobs} == set(summary["drift"]["features"])
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelOps" for b in emitted)
    assert {tuple(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for b in feature_blobs} == {
        ("ModelName", "Feature")
    }
    window_blob = next(b for b in emitted if "MonitorRows" in b)
    assert window_blob["MonitorRows"] in (500, [500.0]) and window_blob["ModelName"] == "churn"


def test_monitor_function_rejects_an_invalid_window(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    monitor_fn = LocalFunction.from_stack(local_stack, "MonitorFunction", stdout=io.StringIO())
    with pytest.raises(InvalidInput) as raised:
        monitor_fn.invoke({"window": {"start": "yesterday", "end": "2026-11-26T12:00:00Z"}})
    assert raised.value.details() == [
        {"field": "window.start", "problem": "not an ISO 8601 time: 'yesterday'"}
    ]
    with pytest.raises(InvalidInput):
        monitor_fn.invoke(
            {"window": {"start": "2026-11-26T13:00:00Z", "end": "2026-11-26T12:00:00Z"}}
        )
