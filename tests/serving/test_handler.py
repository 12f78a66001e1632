"""PredictFunction through both doors (API Gateway events and direct invocation) on moto,
with real trained models from the training job."""

from __future__ import annotations

import base64
import gc
import io
import json
import logging
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from modelops.errors import NoChampionError
from modelops.inference import OnnxModel
from modelops.observability import logger
from modelops.registry import ModelRegistry
from modelops.schema import ModelSchema
from tests.models import publish_trained, sample_rows
from tests.serving.conftest import FakeLambdaContext, api_event, handler_of, load_event

# The churn training data has missing values in total_charges, support_calls, age, contract
# and payment_method (optional) and none in tenure_months, monthly_charges, plan (required).
REQUIRED_MISSING = "required feature is missing (the model was trained without missing values)"
FULL = json.loads(load_event("predict_api.json")["body"])["instances"][0]
OPTIONAL = ["total_charges", "support_calls", "age", "contract", "payment_method"]

Loader = Callable[..., ModuleType]


def stdout_json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def captured_records(text: str) -> list[dict[str, Any]]:
    return [line for line in stdout_json_lines(text) if line.get("eventVersion") == "1"]


def emf_metrics(text: str) -> list[dict[str, Any]]:
    return [line for line in stdout_json_lines(text) if "_aws" in line]


def call_api(
    module: ModuleType, event: dict[str, Any], context: FakeLambdaContext | None = None
) -> tuple[int, Any]:
    response = handler_of(module)(event, context or FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def reference_predictions(
    registry: ModelRegistry, metadata: dict[str, Any], instances: list[dict[str, Any]]
) -> Any:
    """The same rows through a separately built session of the same version."""
    schema = ModelSchema.from_metadata(metadata)
    model = OnnxModel(
        registry.get_model_bytes(
            metadata["name"], metadata["version"], expected_sha256=metadata["model_file"]["sha256"]
        ),
        schema,
    )
    return model.predict_columns(
        {f: [row.get(f) for row in instances] for f in schema.feature_names}
    )


# ---- happy paths ---------------------------------------------------------------------------


def test_sample_api_event_is_answered_by_the_churn_champion(
    predict_handler: Loader,
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = predict_handler()
    event = load_event("predict_api.json")
    status, body = call_api(app, event)
    assert status == 200
    assert body["model"] == {"name": "churn", "version": binary_champion["version"]}
    assert [p["inference_id"] for p in body["predictions"]] == ["order-1234", "order-1235"]
    instances = json.loads(event["body"])["instances"]
    expected = reference_predictions(registry, binary_champion, instances)
    # The second row sends age as null: age had missing values in training, so the model
    # imputes it and the row says so; the complete first row has no "imputed" key.
    assert [p.get("imputed") for p in body["predictions"]] == [None, ["age"]]
    for prediction, label, probabilities in zip(
        body["predictions"], expected.labels, expected.probabilities, strict=True
    ):
        assert set(prediction) - {"imputed"} == {"inference_id", "label", "probabilities"}
        assert prediction["label"] == label
        assert list(prediction["probabilities"]) == ["no", "yes"]
        assert list(prediction["probabilities"].values()) == pytest.approx(
            probabilities.tolist(), abs=1e-6
        )
        assert math.fsum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_binary_predictions_are_mostly_right_on_holdout_rows(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    instances, truth = sample_rows("binary", 40)
    status, body = call_api(predict_handler(), api_event({"instances": instances}))
    assert status == 200
    labels = [p["label"] for p in body["predictions"]]
    assert set(labels) <= {"no", "yes"}
    assert np.mean(np.asarray(labels) == np.asarray(truth)) >= 0.7


def test_multiclass_through_direct_invocation(
    predict_handler: Loader, registry: ModelRegistry, multiclass_champion: dict[str, Any]
) -> None:
    app = predict_handler(MODEL_NAME="wine")
    instances, truth = sample_rows("multiclass", 10)
    result = handler_of(app)(
        {"instances": instances, "inference_ids": [f"w{i}" for i in range(10)]}, FakeLambdaContext()
    )
    assert result["model"] == {"name": "wine", "version": multiclass_champion["version"]}
    expected = reference_predictions(registry, multiclass_champion, instances)
    assert [p["label"] for p in result["predictions"]] == expected.labels.tolist()
    assert all(
        type(p["label"]) is int and set(p["probabilities"]) == {"0", "1", "2"}
        for p in result["predictions"]
    )
    assert (
        np.mean(np.asarray([p["label"] for p in result["predictions"]]) == np.asarray(truth)) >= 0.8
    )


def test_regression_returns_values(
    predict_handler: Loader, registry: ModelRegistry, regression_champion: dict[str, Any]
) -> None:
    app = predict_handler(MODEL_NAME="diabetes")
    instances, _ = sample_rows("regression", 5)
    status, body = call_api(app, api_event({"instances": instances}))
    assert status == 200
    expected = reference_predictions(registry, regression_champion, instances)
    assert all(set(p) == {"inference_id", "value"} for p in body["predictions"])
    assert [p["value"] for p in body["predictions"]] == pytest.approx(
        expected.values.tolist(), rel=1e-6
    )


def test_both_doors_give_the_same_answer(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    app = predict_handler()
    payload = {"instances": sample_rows("binary", 3)[0], "inference_ids": ["a", "b", "c"]}
    status, over_http = call_api(app, api_event(payload))
    direct = handler_of(app)(payload, FakeLambdaContext())
    assert status == 200
    assert direct == over_http
    assert json.loads(json.dumps(direct)) == direct  # the return value is plain JSON


def test_base64_encoded_body_is_decoded(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    status, body = call_api(predict_handler(), load_event("predict_api_base64.json"))
    assert status == 200
    assert len(body["predictions"]) == 1


def test_the_champion_records_which_features_are_required(
    binary_champion: dict[str, Any],
) -> None:
    required = {f["name"]: f["required"] for f in binary_champion["features"]}
    assert [name for name, is_required in required.items() if not is_required] == OPTIONAL


def test_optional_features_left_out_are_imputed_and_listed_per_row(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler()
    capsys.readouterr()
    required_only = {k: v for k, v in FULL.items() if k not in OPTIONAL}
    nulls = {**FULL, "age": None, "contract": None}
    status, body = call_api(app, api_event({"instances": [FULL, required_only, nulls]}))
    assert status == 200
    assert [p.get("imputed") for p in body["predictions"]] == [None, OPTIONAL, ["age", "contract"]]
    imputed = [
        m["ImputedValues"] for m in emf_metrics(capsys.readouterr().out) if "ImputedValues" in m
    ]
    assert imputed == [[7.0]]  # 5 + 2 values the model imputed; none for the complete row


def test_a_complete_request_emits_no_imputed_metric(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler()
    capsys.readouterr()
    assert call_api(app, api_event({"instances": [FULL]}))[0] == 200
    assert not any("ImputedValues" in m for m in emf_metrics(capsys.readouterr().out))


def test_each_missing_required_feature_is_a_400_naming_it(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    rows = [{k: v for k, v in FULL.items() if k != "plan"}, {**FULL, "tenure_months": None}, {}]
    status, kind, details = error_of(*call_api(predict_handler(), api_event({"instances": rows})))
    missing = "required feature is missing (the model was trained without missing values)"
    null = "required feature is null (the model was trained without missing values)"
    assert (status, kind) == (400, "InvalidInput")
    assert details == [
        {"row": 0, "field": "plan", "problem": missing},
        {"row": 1, "field": "tenure_months", "problem": null},
        {"row": 2, "field": "tenure_months", "problem": missing},
        {"row": 2, "field": "monthly_charges", "problem": missing},
        {"row": 2, "field": "plan", "problem": missing},
    ]


# ---- errors --------------------------------------------------------------------------------


def error_of(status: int, body: Any) -> tuple[int, str, list[dict[str, Any]]]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "details", "problem_count"}
    assert body["error"]["problem_count"] == len(body["error"]["details"])
    return status, body["error"]["type"], body["error"]["details"]


@pytest.mark.parametrize(
    ("event", "status", "details"),
    [
        (
            api_event(raw_body="{not json"),
            400,
            [
                {
                    "problem": "malformed JSON at line 1 column 2: Expecting property name enclosed in double quotes"
                }
            ],
        ),
        (
            api_event(raw_body='{"instances": [{"tenure_months": NaN}]}'),
            400,
            [
                {
                    "row": 0,
                    "field": "tenure_months",
                    "problem": "expected a finite number, got NaN",
                },
                {"row": 0, "field": "monthly_charges", "problem": REQUIRED_MISSING},
                {"row": 0, "field": "plan", "problem": REQUIRED_MISSING},
            ],
        ),
        (
            api_event(
                {
                    "instances": [
                        {**FULL, "tenure_months": "abc", "monthly_charges": False, "shoe_size": 42}
                    ]
                }
            ),
            400,
            [
                {"row": 0, "field": "tenure_months", "problem": 'expected a number, got "abc"'},
                {
                    "row": 0,
                    "field": "monthly_charges",
                    "problem": "expected a number, got a boolean (false)",
                },
                {
                    "row": 0,
                    "field": "shoe_size",
                    "problem": "unknown feature; expected: tenure_months, monthly_charges, "
                    "total_charges, support_calls, age, plan, contract, payment_method",
                },
            ],
        ),
        (
            api_event({"instances": []}),
            400,
            [
                {
                    "field": "instances",
                    "problem": "expected an array of 1 to 1000 objects, got an empty array",
                }
            ],
        ),
        (
            api_event({"instances": [FULL, FULL], "inference_ids": ["x", "x"]}),
            400,
            [{"row": 1, "field": "inference_ids", "problem": 'duplicate of row 0 ("x")'}],
        ),
        (
            api_event({"instances": [FULL], "inference_ids": [12]}),
            400,
            [{"row": 0, "field": "inference_ids", "problem": "expected a string, got 12"}],
        ),
        (
            api_event({"instances": [FULL] * 1001}),
            413,
            [{"field": "instances", "problem": "1001 rows; at most 1000 per request"}],
        ),
        (
            api_event(
                {"instances": [{}]}, headers={"Content-Type": "application/x-www-form-urlencoded"}
            ),
            415,
            [
                {
                    "problem": "Content-Type must be application/json, got 'application/x-www-form-urlencoded'"
                }
            ],
        ),
        (
            api_event(raw_body=base64.b64encode(b"\x00\xff").decode(), isBase64Encoded=True),
            400,
            [{"problem": "isBase64Encoded is set but the body is not base64-encoded UTF-8"}],
        ),
    ],
)
def test_invalid_requests_get_4xx_with_every_problem(
    predict_handler: Loader,
    binary_champion: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any],
    status: int,
    details: list[dict[str, Any]],
) -> None:
    app = predict_handler()
    capsys.readouterr()
    got = error_of(*call_api(app, event))
    assert got == (status, "InvalidInput", details)
    out = capsys.readouterr().out
    assert captured_records(out) == []  # nothing was served, nothing captured
    assert any(m.get("InvalidRequests") == [1.0] for m in emf_metrics(out))


def test_oversize_batch_limit_comes_from_the_environment(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    app = predict_handler(MAX_BATCH_ROWS="2")
    assert error_of(*call_api(app, api_event({"instances": [FULL] * 3}))) == (
        413,
        "InvalidInput",
        [{"field": "instances", "problem": "3 rows; at most 2 per request"}],
    )


@pytest.mark.parametrize(("method", "path"), [("POST", "/nope"), ("GET", "/predict")])
def test_unknown_route_is_404_in_the_contract_shape(
    predict_handler: Loader, binary_champion: dict[str, Any], method: str, path: str
) -> None:
    status, body = call_api(
        predict_handler(), api_event({"instances": [{}]}, httpMethod=method, path=path)
    )
    assert status == 404
    assert body == {
        "error": {
            "type": "NotFound",
            "message": f"no route for {method} {path}",
            "details": [],
            "problem_count": 0,
        }
    }


def test_direct_invalid_input_raises_an_error_named_invalid_input(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    handler = handler_of(predict_handler())
    with pytest.raises(Exception) as caught:
        handler(
            {"instances": [{**FULL, "tenure_months": "abc"}, {**FULL, "plan": ["x"]}]},
            FakeLambdaContext(),
        )
    # Lambda reports the exception's class name as errorType: Step Functions Catch on it.
    assert type(caught.value).__name__ == "InvalidInput"
    assert str(caught.value) == (
        "2 problems in the request: row 0, field 'tenure_months': expected a number, got \"abc\"; "
        "row 1, field 'plan': expected a string (a category), got an array"
    )


def test_direct_event_that_is_not_an_object_is_invalid_input(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    with pytest.raises(Exception) as caught:
        handler_of(predict_handler())(["not", "an", "object"], FakeLambdaContext())
    assert type(caught.value).__name__ == "InvalidInput"


def test_initialisation_survives_a_missing_champion_and_a_later_one_is_served(
    predict_handler: Loader, registry: ModelRegistry
) -> None:
    app = predict_handler()
    assert app.service.cache.loaded is None
    assert call_api(app, load_event("predict_api.json"))[0] == 503
    version = publish_trained(registry, "binary")["version"]
    status, body = call_api(app, load_event("predict_api.json"))
    assert (status, body["model"]["version"]) == (200, version)


def test_initialisation_freezes_what_it_built_out_of_the_garbage_collector(
    predict_handler: Loader, registry: ModelRegistry
) -> None:
    publish_trained(registry, "binary")
    gc.unfreeze()
    try:
        app = predict_handler()
        frozen = gc.get_freeze_count()
        assert app.service.cache.loaded is not None
        assert frozen > 1000  # the modules and the loaded model, at least
    finally:
        gc.unfreeze()


def test_no_champion_is_503_with_a_clear_message(
    predict_handler: Loader, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler()
    capsys.readouterr()
    status, body = call_api(app, load_event("predict_api.json"))
    emf = emf_metrics(capsys.readouterr().out)
    assert [m["UnavailableRequests"] for m in emf if "UnavailableRequests" in m] == [[1.0]]
    assert status == 503
    assert body["error"]["type"] == "ModelUnavailable"
    assert (
        body["error"]["message"]
        == "model 'churn' has no champion yet: train and promote a version first"
    )
    with pytest.raises(NoChampionError):
        handler_of(app)({"instances": [{}]}, FakeLambdaContext())


def test_unexpected_errors_are_500_without_internals(
    predict_handler: Loader, binary_champion: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = predict_handler()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.service, "predict", broken)
    context = FakeLambdaContext()
    status, body = call_api(app, load_event("predict_api.json"), context)
    assert status == 500
    assert body["error"] == {
        "type": "InternalError",
        "message": f"internal error (request id {context.aws_request_id})",
        "details": [],
        "problem_count": 0,
    }


# ---- capture, logs and metrics -------------------------------------------------------------


def test_each_served_row_is_captured_once_in_the_log(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler()
    capsys.readouterr()
    event = load_event("predict_api.json")
    context = FakeLambdaContext()
    status, body = call_api(app, event, context)
    assert status == 200
    records = captured_records(capsys.readouterr().out)
    instances = json.loads(event["body"])["instances"]
    assert len(records) == 2
    for record, instance, prediction in zip(records, instances, body["predictions"], strict=True):
        meta = record["eventMetadata"]
        assert set(record) == {"eventVersion", "eventMetadata", "model", "input", "output"}
        assert meta["inferenceId"] == prediction["inference_id"]
        assert meta["requestId"] == context.aws_request_id
        assert meta["source"] == "api"
        assert meta["inferenceTime"].endswith("Z") and len(meta["inferenceTime"]) == 24
        assert record["model"] == body["model"]
        assert record["input"] == instance
        # The output as served; which features were imputed is in the input as sent.
        served = {k: v for k, v in prediction.items() if k not in ("inference_id", "imputed")}
        assert record["output"] == served
    assert records[0]["eventMetadata"]["eventId"] != records[1]["eventMetadata"]["eventId"]

    handler_of(app)({"instances": instances[:1]}, FakeLambdaContext())
    (direct,) = captured_records(capsys.readouterr().out)
    assert direct["eventMetadata"]["source"] == "direct"


def test_sampling_rate_zero_captures_nothing(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler(CAPTURE_SAMPLE_RATE="0")
    capsys.readouterr()
    assert call_api(app, load_event("predict_api.json"))[0] == 200
    assert captured_records(capsys.readouterr().out) == []


def test_sampling_captures_the_rows_drawn_below_the_rate(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler(CAPTURE_SAMPLE_RATE="0.5")
    app.service.recording.sample = iter([0.1, 0.9, 0.3]).__next__  # one draw per row
    capsys.readouterr()
    payload = {"instances": sample_rows("binary", 3)[0], "inference_ids": ["a", "b", "c"]}
    handler_of(app)(payload, FakeLambdaContext())
    records = captured_records(capsys.readouterr().out)
    assert [r["eventMetadata"]["inferenceId"] for r in records] == ["a", "c"]


def test_logs_carry_the_api_gateway_request_id_and_metrics_the_model_dimensions(
    predict_handler: Loader, binary_champion: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = predict_handler()
    assert app.service.cache.loaded is not None  # loaded during initialisation
    capsys.readouterr()
    event = load_event("predict_api.json")
    invalid = api_event({"instances": [{"colour": "red"}]})
    log_stream = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(log_stream)
    try:
        call_api(app, event)
        out = capsys.readouterr().out
        call_api(app, invalid)
    finally:
        handler.setStream(previous)
    logs = stdout_json_lines(log_stream.getvalue())
    assert [line["message"] for line in logs] == ["invalid request"]
    assert logs[0]["correlation_id"] == invalid["requestContext"]["requestId"]
    (serving,) = [m for m in emf_metrics(out) if "PredictedRows" in m]
    directive = serving["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ModelOps"
    assert directive["Dimensions"] == [["ModelName", "ModelVersion"]]
    assert (serving["ModelName"], serving["ModelVersion"]) == (
        "churn",
        str(binary_champion["version"]),
    )
    assert serving["PredictedRows"] == [2.0]
    assert serving["ModelLoads"] == [1.0]
    assert serving["PredictionLatency"][0] > 0
    assert any(m.get("ColdStart") == [1.0] for m in emf_metrics(out))
