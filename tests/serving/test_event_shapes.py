"""PredictFunction given events of every shape: REST proxy events with broken fields, HTTP API
and Function URL events (payload 2.0), direct invocations holding what JSON allows but the
system cannot carry. Each is served, or answered 4xx in the contract's shape (HTTP), or
raises InvalidInput (direct invocation); never a 5xx or another exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.errors import InvalidInput
from tests.serving.conftest import FakeLambdaContext, api_event, handler_of, load_event

pytestmark = pytest.mark.fuzz

Loader = Callable[..., ModuleType]
BODY = json.loads(load_event("predict_api.json")["body"])


def respond(module: ModuleType, event: Any) -> tuple[int, Any]:
    response = handler_of(module)(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def rest_event(**fields: Any) -> dict[str, Any]:
    """events/predict_api.json with `fields` replaced (any JSON value, the body included)."""
    return api_event(BODY) | fields


def v2_event(body: Any, *, method: Any = "POST", path: str = "/predict") -> dict[str, Any]:
    """An HTTP API (payload 2.0) event; a Function URL sends the same shape."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test",
            },
            "requestId": "req-v2",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_953_600_000,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def assert_error_shape(status: int, body: Any) -> dict[str, Any]:
    assert 400 <= status < 500, (status, body)
    error: dict[str, Any] = body["error"]
    assert set(error) == {"type", "message", "details", "problem_count"}
    assert isinstance(error["message"], str) and isinstance(error["details"], list)
    assert error["problem_count"] >= len(error["details"])
    return error


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"httpMethod": None}, "httpMethod"),
        ({"httpMethod": 7}, "httpMethod"),
        ({"path": None}, "path"),
        ({"path": 12}, "path"),
        ({"body": BODY}, "body"),
        ({"body": [1, 2]}, "body"),
        ({"body": 3}, "body"),
        ({"headers": ["content-type"]}, "headers"),
        ({"headers": {"content-type": 1}}, "headers.content-type"),
        ({"multiValueHeaders": {"accept": "x"}}, "multiValueHeaders.accept"),
        ({"isBase64Encoded": "yes"}, "isBase64Encoded"),
        ({"requestContext": 5}, "requestContext"),
    ],
)
def test_a_broken_rest_event_is_a_400_naming_the_field(
    predict_handler: Loader, binary_champion: dict[str, Any], overrides: Any, field: str
) -> None:
    status, body = respond(predict_handler(), rest_event(**overrides))
    error = assert_error_shape(status, body)
    assert status == 400 and error["type"] == "InvalidInput"
    assert [d["field"] for d in error["details"]] == [field]


def test_http_api_and_function_url_events_are_served_like_rest_ones(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    app = predict_handler()
    rest = respond(app, api_event(BODY))
    assert respond(app, v2_event(BODY)) == rest
    assert rest[0] == 200
    status, body = respond(app, v2_event(BODY, method="GET"))
    assert status == 404 and assert_error_shape(status, body)["type"] == "NotFound"
    status, body = respond(app, v2_event({"instances": [{"plan": "\ud800"}]}))
    assert assert_error_shape(status, body)["details"][0]["field"] == "instances[0].plan"
    status, body = respond(app, v2_event(BODY, method=None))
    assert assert_error_shape(status, body)["details"][0]["field"] == "requestContext.http.method"


def test_direct_invocation_with_a_lone_surrogate_raises_invalid_input(
    predict_handler: Loader, binary_champion: dict[str, Any]
) -> None:
    app = predict_handler()
    with pytest.raises(InvalidInput) as caught:
        handler_of(app)(
            {"instances": [{"plan": "basic"}], "inference_ids": ["a\udfff"]}, FakeLambdaContext()
        )
    assert caught.value.details()[0]["field"] == "inference_ids[0]"
    str(caught.value).encode()  # Lambda reports the message as UTF-8 JSON


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
FIELDS = [
    "httpMethod",
    "path",
    "body",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "isBase64Encoded",
    "requestContext",
    "resource",
    "stageVariables",
    "version",
]


@pytest.fixture
def app(predict_handler: Loader, binary_champion: dict[str, Any]) -> ModuleType:
    return predict_handler()  # once per test: every generated example reuses it


@given(mutations=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=3))
def test_any_mutated_rest_event_is_never_a_5xx(app: ModuleType, mutations: dict[str, Any]) -> None:
    status, body = respond(app, rest_event(**mutations))
    if status != 200:
        assert_error_shape(status, body)
