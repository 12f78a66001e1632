"""The local API: template routes, API Gateway's key check, proxy events and HTTP, over a socket."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.local_api import (
    LocalApi,
    Route,
    gateway_responses_from_template,
    main,
    routes_from_template,
    serving,
)
from embedded_aws.template import Tagged

KEY = "local-test-key"

# A handler that answers with the event it got (and fails on request), standing in for the
# stack's functions so routing can be tested without a model.
ECHO_HANDLER = """
import json, os
def handler(event, context):
    if event.get("body") == "boom":
        raise RuntimeError("handler failed")
    if event.get("body") == "malformed":
        return {"body": "no status code"}
    return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
            "body": json.dumps({"event": event, "function": context.function_name,
                                "request_id": context.aws_request_id, "env": os.environ.get("ECHO_SETTING")})}
"""


def fake_template(code_dir: Path) -> dict[str, Any]:
    def function(path: str, auth: dict[str, Any] | None) -> dict[str, Any]:
        props: dict[str, Any] = {
            "Path": path,
            "Method": "post",
            "RestApiId": Tagged("Ref", "ModelOpsApi"),
        }
        if auth is not None:
            props["Auth"] = auth
        return {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": str(code_dir),
                "Handler": "app.handler",
                "Events": {"Api": {"Type": "Api", "Properties": props}},
            },
        }

    return {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "ModelOpsApi": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "StageName": Tagged("Ref", "Stage"),
                    "Auth": {"ApiKeyRequired": True},
                },
            },
            "EchoFunction": function("/echo", None),
            "PublicFunction": function("/public", {"ApiKeyRequired": False}),
        },
    }


def start_api(code_dir: Path, gateway_responses: dict[str, Any]) -> Any:
    (code_dir / "app.py").write_text(ECHO_HANDLER)
    doc = fake_template(code_dir)
    routes = routes_from_template(doc)
    functions = {
        r.function: LocalFunction(r.function, {"ECHO_SETTING": "from-template"}, template=doc)
        for r in routes
    }
    api = LocalApi(
        routes,
        lambda name, event: functions[name].invoke(event),
        api_key=KEY,
        stage="dev",
        gateway_responses=gateway_responses,
    )
    return serving(api)


@pytest.fixture
def base_url(tmp_path: Path) -> Any:
    """The echo functions behind the stack's own GatewayResponses (template.yaml)."""
    with start_api(tmp_path, gateway_responses_from_template()) as url:
        yield url


@pytest.fixture
def plain_url(tmp_path: Path) -> Any:
    """The echo functions behind API Gateway's default responses (no customisation)."""
    with start_api(tmp_path, {}) as url:
        yield url


def call(
    url: str, body: bytes | None, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_routes_come_from_the_templates_api_events_with_key_requirement(tmp_path: Path) -> None:
    routes = routes_from_template(fake_template(tmp_path))
    assert set(routes) == {
        Route("/echo", "POST", "EchoFunction", api_key_required=True),
        Route("/public", "POST", "PublicFunction", api_key_required=False),
    }


def test_request_becomes_the_rest_proxy_event_and_the_result_becomes_http(base_url: str) -> None:
    status, headers, payload = call(
        f"{base_url}/echo?debug=1&debug=2",
        b'{"instances": []}',
        {"Content-Type": "application/json", "x-api-key": KEY},
    )
    assert status == 201
    assert headers["X-Echo"] == "yes"
    event = payload["event"]
    assert (
        event["resource"] == "/echo" and event["path"] == "/echo" and event["httpMethod"] == "POST"
    )
    assert event["body"] == '{"instances": []}' and event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueQueryStringParameters"] == {"debug": ["1", "2"]}
    assert event["queryStringParameters"] == {"debug": "2"}
    context = event["requestContext"]
    assert context["stage"] == "dev" and context["path"] == "/dev/echo"
    assert context["identity"]["apiKey"] == KEY
    assert context["requestId"] == headers["x-amzn-RequestId"]
    assert payload["function"] == "local-EchoFunction"
    assert payload["env"] == "from-template"


def test_missing_or_wrong_api_key_is_api_gateways_forbidden(plain_url: str) -> None:
    assert call(f"{plain_url}/echo", b"{}")[::2] == (403, {"message": "Forbidden"})
    assert call(f"{plain_url}/echo", b"{}", {"x-api-key": "wrong"})[::2] == (
        403,
        {"message": "Forbidden"},
    )
    assert call(f"{plain_url}/nope", b"{}")[::2] == (
        403,
        {"message": "Missing Authentication Token"},
    )


def test_the_templates_gateway_responses_shape_forbidden_and_unknown_routes(base_url: str) -> None:
    status, headers, payload = call(f"{base_url}/echo", b"{}")
    assert status == 403 and headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert payload["error"]["type"] == "Forbidden" and "x-api-key" in payload["error"]["message"]


def test_a_route_without_key_requirement_is_open(base_url: str) -> None:
    status, _, payload = call(f"{base_url}/public", b"{}")
    assert status == 201
    assert payload["event"]["requestContext"]["identity"]["apiKey"] is None


def test_unknown_route_or_method_is_404_in_the_contracts_error_shape(base_url: str) -> None:
    status, _, payload = call(f"{base_url}/nope", b"{}", {"x-api-key": KEY})
    assert status == 404
    assert (
        payload["error"]["type"] == "NotFound" and "POST /dev/nope" in payload["error"]["message"]
    )
    assert call(f"{base_url}/echo", None, {"x-api-key": KEY}, method="GET")[0] == 404


def test_a_failing_handler_or_malformed_result_is_api_gateways_502(
    plain_url: str, base_url: str
) -> None:
    headers = {"x-api-key": KEY}
    internal = (502, {"message": "Internal server error"})
    assert call(f"{plain_url}/echo", b"boom", headers)[::2] == internal
    assert call(f"{plain_url}/echo", b"malformed", headers)[::2] == internal
    status, _, payload = call(f"{base_url}/echo", b"boom", headers)
    assert status == 502
    assert payload["error"] == {
        "type": "INTEGRATION_FAILURE",
        "message": "Internal server error",
        "details": [],
    }


def test_binary_body_is_passed_base64_encoded(base_url: str) -> None:
    _, _, payload = call(f"{base_url}/echo", b"\xff\xfe\x00", {"x-api-key": KEY})
    assert payload["event"]["isBase64Encoded"] is True
    assert payload["event"]["body"] == "//4A"


def test_make_api_refuses_a_busy_port_before_starting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("NoSuchParameter=1", "template.yaml declares no parameter 'NoSuchParameter'"),
        ("ApiAnonymousAccess=maybe", "ApiAnonymousAccess must be one of"),
        ("ApiAnonymousAccess", "KEY=VALUE"),
    ],
)
def test_make_api_checks_parameter_overrides_before_starting_anything(
    override: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(SystemExit) as exited:
        main(["--port", str(port), "--parameter-overrides", override])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
