"""A corpus of HTTP events and route behaviours for the API door (modelops.http.ApiDoor).

tests/serving/data/http_door_golden.json holds the responses the door gave to each case when
it was built on Powertools' APIGatewayRestResolver / APIGatewayHttpResolver; the door that
replaced them must answer every case byte for byte the same (tests/serving/test_http_door.py).
Regenerate only on purpose: `python -m tests.serving.http_door_cases` (writes that file).
"""

from __future__ import annotations

import base64
import copy
import json
from http import HTTPStatus
from typing import Any

from modelops.errors import (
    DependencyUnavailableError,
    InvalidInput,
    ModelUnavailableError,
    NoChampionError,
    Problem,
)
from modelops.http import create_resolver, error_response, read_json_body
from tests.serving.conftest import FakeLambdaContext, load_event

GOLDEN = "tests/serving/data/http_door_golden.json"


def door() -> Any:
    """A door with the routes of PredictFunction and FeedbackFunction, each behaving as the
    request body's "do" asks (so one corpus reaches every branch of the door)."""
    app = create_resolver()

    @app.post("/predict")
    def predict() -> Any:
        body = read_json_body(app.current_event)
        action = body.get("do") if isinstance(body, dict) else None
        if action == "invalid":
            raise InvalidInput(
                "2 problems in the request",
                [Problem("expected a number", row=0, field="x"), Problem("unknown key", field="y")],
            )
        if action == "too-many":
            raise InvalidInput(
                "too many rows in the request",
                [Problem("1001 instances; at most 1000 per request", field="instances")],
                status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        if action == "no-champion":
            raise NoChampionError("model 'churn' has no champion yet")
        if action == "unavailable":
            raise ModelUnavailableError("model 'churn' could not be loaded (boom)")
        if action == "dependency":
            raise DependencyUnavailableError("S3 is unreachable; nothing was written")
        if action == "crash":
            raise RuntimeError("a bug")
        if action == "ids":
            return {"ids": [app.lambda_context.aws_request_id], "path": app.current_event["path"]}
        return {"model": {"name": "churn", "version": 3}, "echo": body, "text": "é ☃ \u2028"}

    @app.get("/models/<name>")
    def card(name: str) -> Any:
        if name != "churn":
            return error_response(HTTPStatus.NOT_FOUND, "NotFound", f"no model {name!r} here")
        return {"model": {"name": name}}

    from modelops.http import Response

    @app.post("/feedback")
    def feedback() -> Any:
        body = read_json_body(app.current_event)
        return Response(
            status_code=HTTPStatus.ACCEPTED,
            content_type="application/json",
            body={"accepted": len(body) if isinstance(body, list) else 1},
        )

    return app


def _rest(method: str, path: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("predict_api.json"))
    event.update(httpMethod=method, path=path, body=body, **extra)
    event["requestContext"]["httpMethod"] = method
    return event


def _http(
    method: str, path: str, body: str | None = None, *, stage: str = "$default", **extra: Any
) -> dict[str, Any]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl",
            },
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": stage,
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
    event.update(extra)
    return event


def cases() -> dict[str, dict[str, Any]]:
    """name -> event."""
    out: dict[str, dict[str, Any]] = {}
    actions = [
        "ok",
        "invalid",
        "too-many",
        "no-champion",
        "unavailable",
        "dependency",
        "crash",
        "ids",
    ]
    for fmt, make in (("rest", _rest), ("http", _http)):
        for action in actions:
            out[f"{fmt}-predict-{action}"] = make("POST", "/predict", json.dumps({"do": action}))
        out[f"{fmt}-predict-trailing-slash"] = make("POST", "/predict/", json.dumps({"do": "ok"}))
        out[f"{fmt}-predict-double-slash"] = make("POST", "/predict//", json.dumps({"do": "ok"}))
        out[f"{fmt}-predict-lowercase-method"] = make("post", "/predict", json.dumps({"do": "ok"}))
        out[f"{fmt}-predict-get"] = make("GET", "/predict")
        out[f"{fmt}-predict-put"] = make("PUT", "/predict", "{}")
        out[f"{fmt}-unknown-path"] = make("POST", "/nowhere", "{}")
        out[f"{fmt}-unknown-path-odd"] = make("DELETE", "/a%20b/<x>", None)
        out[f"{fmt}-prefix-path"] = make("POST", "/predictions", "{}")
        out[f"{fmt}-root"] = make("GET", "/")
        out[f"{fmt}-no-body"] = make("POST", "/predict", None)
        out[f"{fmt}-empty-body"] = make("POST", "/predict", "")
        out[f"{fmt}-bad-json"] = make("POST", "/predict", '{"do": ')
        out[f"{fmt}-nan"] = make("POST", "/predict", '{"do": NaN}')
        out[f"{fmt}-array-body"] = make("POST", "/predict", "[1, 2]")
        out[f"{fmt}-unicode-body"] = make(
            "POST", "/predict", json.dumps({"do": "ok", "s": "ü\u2028"}, ensure_ascii=False)
        )
        out[f"{fmt}-base64"] = make(
            "POST", "/predict", base64.b64encode(b'{"do": "ok"}').decode(), isBase64Encoded=True
        )
        out[f"{fmt}-bad-base64"] = make("POST", "/predict", "!!!", isBase64Encoded=True)
        out[f"{fmt}-card"] = make("GET", "/models/churn")
        out[f"{fmt}-card-slash"] = make("GET", "/models/churn/")
        out[f"{fmt}-card-other"] = make("GET", "/models/wine-2.0")
        out[f"{fmt}-card-encoded"] = make("GET", "/models/a%20b")
        out[f"{fmt}-card-nested"] = make("GET", "/models/a/b")
        out[f"{fmt}-card-empty"] = make("GET", "/models/")
        out[f"{fmt}-card-post"] = make("POST", "/models/churn", "{}")
        out[f"{fmt}-feedback"] = make("POST", "/feedback", "[1, 2, 3]")
    rest = out["rest-predict-ok"]
    out["rest-text-plain"] = {**rest, "headers": {**rest["headers"], "Content-Type": "text/plain"}}
    out["rest-json-charset"] = {
        **rest,
        "headers": {**rest["headers"], "Content-Type": "application/json; charset=utf-8"},
    }
    out["rest-no-headers"] = {**rest, "headers": None, "multiValueHeaders": None}
    out["rest-stage-in-path"] = _rest("POST", "/dev/predict", json.dumps({"do": "ok"}))
    out["http-stage"] = _http("POST", "/dev/predict", json.dumps({"do": "ok"}), stage="dev")
    out["http-stage-card"] = _http("GET", "/dev/models/churn", stage="dev")
    out["http-stage-not-in-path"] = _http("POST", "/predict", json.dumps({"do": "ok"}), stage="dev")
    out["http-text-plain"] = _http("POST", "/predict", "{}", headers={"content-type": "text/plain"})
    out["http-no-headers"] = _http("POST", "/predict", json.dumps({"do": "ok"}), headers=None)
    out["rest-malformed-method"] = {**_rest("POST", "/predict", "{}"), "httpMethod": None}
    out["http-malformed-body"] = {**_http("POST", "/predict"), "body": {"do": "ok"}}
    return out


def responses() -> dict[str, Any]:
    app = door()
    context = FakeLambdaContext(aws_request_id="req-42")
    return {name: app.resolve(event, context) for name, event in cases().items()}


if __name__ == "__main__":
    recorded = responses()
    with open(GOLDEN, "w", encoding="utf-8") as out:  # noqa: PTH123
        json.dump(recorded, out, indent=1, ensure_ascii=False)
        out.write("\n")
