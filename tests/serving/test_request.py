"""Request validation against a model schema: every problem found, with its row and field."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from modelops.errors import InvalidInput
from modelops.http import parse_json, read_json_body
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops.serving.request import parse_predict_request
from tests.serving.conftest import api_event

SCHEMA = ModelSchema(
    features=(
        FeatureSpec("tenure_months", FeatureKind.NUMERIC),
        FeatureSpec("monthly_charges", FeatureKind.NUMERIC),
        FeatureSpec("plan", FeatureKind.CATEGORICAL),
    ),
    task=Task.BINARY,
    classes=("no", "yes"),
)
GOOD = {"tenure_months": 12, "monthly_charges": 42.5, "plan": "basic"}


def problems_of(payload: Any, *, max_rows: int = 1000) -> tuple[int, list[dict[str, Any]], str]:
    with pytest.raises(InvalidInput) as caught:
        parse_predict_request(payload, SCHEMA, max_rows=max_rows)
    return caught.value.status_code, caught.value.details(), str(caught.value)


def test_valid_request_becomes_columns_with_missing_as_none() -> None:
    request = parse_predict_request(
        {
            "instances": [GOOD, {"tenure_months": None, "plan": "premium"}],
            "inference_ids": ["a", "b"],
        },
        SCHEMA,
        max_rows=10,
    )
    # As the model takes them: float32 with NaN for missing, categories as strings.
    assert request.columns["tenure_months"].dtype == request.columns["monthly_charges"].dtype
    assert request.columns["tenure_months"].dtype == np.float32
    assert request.columns["tenure_months"][0] == 12 and np.isnan(
        request.columns["tenure_months"][1]
    )
    assert request.columns["monthly_charges"][0] == 42.5
    assert np.isnan(request.columns["monthly_charges"][1])
    assert request.columns["plan"].tolist() == ["basic", "premium"]
    assert request.imputed == {1: ["tenure_months", "monthly_charges"]}
    assert request.inference_ids == ["a", "b"]
    assert len(request) == 2


def test_inference_ids_are_generated_when_absent_and_unique() -> None:
    request = parse_predict_request({"instances": [GOOD] * 50}, SCHEMA, max_rows=100)
    assert len(set(request.inference_ids)) == 50
    assert all(len(i) == 36 and i[14] == "4" for i in request.inference_ids)


def test_every_problem_is_listed_with_row_and_field() -> None:
    payload = {
        "instances": [
            {"tenure_months": "abc", "monthly_charges": True, "plan": 3.5},
            GOOD,
            {"tenure_months": [1], "colour": "red", "plan": {"a": 1}},
            "not an object",
        ]
    }
    status, details, message = problems_of(payload)
    assert status == 400
    assert details == [
        {"row": 0, "field": "tenure_months", "problem": 'expected a number, got "abc"'},
        {
            "row": 0,
            "field": "monthly_charges",
            "problem": "expected a number, got a boolean (true)",
        },
        {"row": 0, "field": "plan", "problem": "expected a string (a category), got 3.5"},
        {"row": 2, "field": "tenure_months", "problem": "expected a number, got an array"},
        {
            "row": 2,
            "field": "colour",
            "problem": "unknown feature; expected: tenure_months, monthly_charges, plan",
        },
        {"row": 2, "field": "plan", "problem": "expected a string (a category), got an object"},
        {"row": 3, "problem": 'expected an object of features, got "not an object"'},
    ]
    assert message.startswith("7 problems in the request: row 0, field 'tenure_months'")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_tokens_are_rejected_by_name(token: str) -> None:
    body = '{"instances": [{"tenure_months": TOKEN, "plan": "basic"}]}'.replace("TOKEN", token)
    _, details, _ = problems_of(parse_json(body))
    assert details == [
        {"row": 0, "field": "tenure_months", "problem": f"expected a finite number, got {token}"}
    ]


def test_numbers_beyond_float32_and_overflowing_floats_are_rejected() -> None:
    _, details, _ = problems_of(
        parse_json('{"instances": [{"tenure_months": 1e39, "monthly_charges": 1e400}]}')
    )
    assert [d["field"] for d in details] == ["tenure_months", "monthly_charges"]
    assert "out of range" in details[0]["problem"]
    assert details[1]["problem"] == "expected a finite number, got inf"


def test_direct_invocation_floats_that_are_not_finite_are_rejected() -> None:
    _, details, _ = problems_of({"instances": [{"tenure_months": float("nan")}]})
    assert details == [
        {"row": 0, "field": "tenure_months", "problem": "expected a finite number, got nan"}
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            [GOOD],
            {
                "problem": 'expected a JSON object with one of "instances", "dataframe_split", '
                '"dataframe_records" or "inputs", got an array'
            },
        ),
        (
            {},
            {
                "field": "instances",
                "problem": "expected an array of 1 to 1000 objects (or send dataframe_split, "
                "dataframe_records or inputs), got nothing",
            },
        ),
        (
            {"instances": {"a": 1}},
            {
                "field": "instances",
                "problem": "expected an array of 1 to 1000 objects, got an object",
            },
        ),
        (
            {"instances": []},
            {
                "field": "instances",
                "problem": "expected an array of 1 to 1000 objects, got an empty array",
            },
        ),
    ],
)
def test_request_shape_problems(payload: Any, expected: dict[str, Any]) -> None:
    status, details, _ = problems_of(payload)
    assert (status, details) == (400, [expected])


def test_unknown_top_level_keys_are_rejected_not_ignored() -> None:
    _, details, _ = problems_of({"instances": [GOOD], "instance": [GOOD]})
    assert details == [
        {
            "field": "instance",
            "problem": "unknown key; did you mean 'instances'? expected: instances, "
            "dataframe_split, dataframe_records, inputs, inference_ids",
        }
    ]


def test_too_many_rows_is_413() -> None:
    status, details, _ = problems_of({"instances": [GOOD] * 6}, max_rows=5)
    assert status == 413
    assert details == [{"field": "instances", "problem": "6 rows; at most 5 per request"}]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ("a", [{"field": "inference_ids", "problem": 'expected an array of 2 strings, got "a"'}]),
        (["a"], [{"field": "inference_ids", "problem": "expected one id per row (2), got 1"}]),
        (["a", "a"], [{"row": 1, "field": "inference_ids", "problem": 'duplicate of row 0 ("a")'}]),
        (["a", 7], [{"row": 1, "field": "inference_ids", "problem": "expected a string, got 7"}]),
        (["", "b"], [{"row": 0, "field": "inference_ids", "problem": "must not be empty"}]),
        (
            ["a", "x" * 257],
            [{"row": 1, "field": "inference_ids", "problem": "longer than 256 characters"}],
        ),
    ],
)
def test_inference_id_problems(ids: Any, expected: list[dict[str, Any]]) -> None:
    status, details, _ = problems_of({"instances": [GOOD, GOOD], "inference_ids": ids})
    assert (status, details) == (400, expected)


def test_categorical_accepts_integers_and_booleans_as_categories() -> None:
    request = parse_predict_request(
        {"instances": [{"plan": 3}, {"plan": True}]}, SCHEMA, max_rows=5
    )
    assert request.columns["plan"].tolist() == ["3", "True"]  # the strings the model sees


# ---- the HTTP body reader (content type, base64, JSON) -------------------------------------


def test_body_reader_parses_json_and_base64_bodies() -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    body = {"instances": [GOOD]}
    assert read_json_body(APIGatewayProxyEvent(api_event(body))) == body
    encoded = api_event(
        raw_body=base64.b64encode(json.dumps(body).encode()).decode(), isBase64Encoded=True
    )
    assert read_json_body(APIGatewayProxyEvent(encoded)) == body


@pytest.mark.parametrize(
    ("event", "status", "problem"),
    [
        (
            api_event(raw_body='{"instances": [}'),
            400,
            "malformed JSON at line 1 column 16: Expecting value",
        ),
        (api_event(raw_body=""), 400, "expected a JSON object body"),
        (
            api_event(raw_body="%%%", isBase64Encoded=True),
            400,
            "isBase64Encoded is set but the body is not base64-encoded UTF-8",
        ),
        (
            api_event(raw_body=base64.b64encode(b"\xff\xfe").decode(), isBase64Encoded=True),
            400,
            "isBase64Encoded is set but the body is not base64-encoded UTF-8",
        ),
        (
            api_event({"instances": []}, headers={"content-type": "text/csv"}),
            415,
            "Content-Type must be application/json, got 'text/csv'",
        ),
    ],
)
def test_body_reader_problems(event: dict[str, Any], status: int, problem: str) -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    with pytest.raises(InvalidInput) as caught:
        read_json_body(APIGatewayProxyEvent(event))
    assert caught.value.status_code == status
    assert caught.value.details() == [{"problem": problem}]


def test_json_with_charset_is_accepted() -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    event = api_event(
        {"instances": [GOOD]}, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert read_json_body(APIGatewayProxyEvent(event)) == {"instances": [GOOD]}
