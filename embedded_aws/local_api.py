"""The stack's REST API on localhost without Docker: `make api` (python -m embedded_aws.local_api).

Each HTTP request becomes the API Gateway REST proxy event (payload version 1.0, the shape
`sam local generate-event apigateway aws-proxy` makes) of the route template.yaml declares
(`Events` of type `Api` on each function), the API key is checked as API Gateway checks it
(`Auth.ApiKeyRequired`: 403 {"message": "Forbidden"} without a valid `x-api-key`), the
function's handler runs in this process (embedded_aws.lambda_runtime) and its result is
turned back into the HTTP response. Everything else runs on moto's server (embedded AWS).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import shlex
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from embedded_aws.provision import STACK_NAME, LocalStack, parameter_overrides, provision_stack
from embedded_aws.template import load_template, parameter_default, resolve

DEFAULT_PORT = 3000  # as `sam local start-api`
# API Gateway refuses payloads over 10 MB before any function runs.
API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
ACCOUNT_ID = "123456789012"
API_ID = "local"


@dataclass(frozen=True)
class Route:
    """One `Type: Api` event of a function in template.yaml."""

    path: str
    method: str
    function: str
    api_key_required: bool

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if `path` fits this route's template (`/models/{name}`), as
        API Gateway matches them: one `{param}` is one non-empty path segment."""
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


def routes_from_template(
    template: dict[str, Any] | None = None, refs: Mapping[str, Any] | None = None
) -> list[Route]:
    """Every API route of the template, with its API key requirement (the event's Auth
    overrides the API's Auth, which defaults to no key, as in SAM)."""
    doc = template or load_template()
    scope = dict(refs or {})
    routes = []
    for logical_id, res in doc["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for event in res.get("Properties", {}).get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            api_auth = _api_auth(doc, props.get("RestApiId"), scope)
            event_auth = resolve(props.get("Auth", {}), scope, doc)
            required = event_auth.get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))
            routes.append(
                Route(
                    path=resolve(props["Path"], scope, doc),
                    method=str(resolve(props["Method"], scope, doc)).upper(),
                    function=logical_id,
                    api_key_required=_truthy(required),
                )
            )
    return routes


def _api_auth(doc: dict[str, Any], rest_api: Any, scope: dict[str, Any]) -> dict[str, Any]:
    api_id = getattr(rest_api, "value", None) if rest_api is not None else None
    if api_id is None:
        api_auth: dict[str, Any] = resolve(
            doc.get("Globals", {}).get("Api", {}).get("Auth", {}), scope, doc
        )
        return api_auth
    props = doc["Resources"][api_id].get("Properties", {})
    auth: dict[str, Any] = resolve(props.get("Auth", {}), scope, doc)
    return auth


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def stage_name(
    template: dict[str, Any] | None = None, refs: Mapping[str, Any] | None = None
) -> str:
    doc = template or load_template()
    api = doc["Resources"].get("ModelOpsApi", {}).get("Properties", {})
    return str(resolve(api.get("StageName", "Prod"), dict(refs or {}), doc))


def gateway_responses_from_template(
    template: dict[str, Any] | None = None, refs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The API's GatewayResponses (how API Gateway's own errors look), resolved."""
    doc = template or load_template()
    api = doc["Resources"].get("ModelOpsApi", {}).get("Properties", {})
    responses: dict[str, Any] = resolve(api.get("GatewayResponses", {}), dict(refs or {}), doc)
    return responses


# API Gateway's own responses: status, message and x-amzn-ErrorType, before customisation.
_GATEWAY_DEFAULTS = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    # a function that fails or returns a malformed proxy result
    "INTEGRATION_FAILURE": (502, "Internal server error", "InternalServerErrorException"),
}

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class LocalApi:
    """Routing, API key check and the proxy event <-> HTTP translation, without sockets."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Invoke,
        *,
        api_key: str,
        stage: str = "dev",
        gateway_responses: Mapping[str, Any] | None = None,
    ) -> None:
        self.routes = routes
        self.gateway_responses = dict(gateway_responses or {})
        self.invoke = invoke
        self.api_key = api_key
        self.stage = stage

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpResponse:
        request_id = str(uuid.uuid4())
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        context = {"method": method, "path": f"/{self.stage}{url.path}", "request_id": request_id}
        route, path_parameters = None, None
        for candidate in self.routes:
            found = candidate.match(path)
            if found is not None and candidate.method in (method, "ANY"):
                route, path_parameters = candidate, found
                break
        if route is None:
            # API Gateway's answer to a route it does not have
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", context)
        if len(body) > API_GATEWAY_MAX_BODY_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", context)
        supplied_key = next((v for k, v in headers if k.lower() == "x-api-key"), None)
        if route.api_key_required and not (
            supplied_key and secrets.compare_digest(supplied_key, self.api_key)
        ):
            return self.gateway_response("INVALID_API_KEY", context)
        event = self.proxy_event(
            route, method, url.path, url.query, headers, body, source_ip, request_id, supplied_key
        )
        event["pathParameters"] = path_parameters or None
        try:
            result = self.invoke(route.function, event)
            return _from_proxy_result(result, request_id)
        except Exception:
            # What API Gateway answers when the function fails or returns a malformed result;
            # the details stay in this server's log, as they would in CloudWatch.
            traceback.print_exc(file=sys.stderr)
            return self.gateway_response("INTEGRATION_FAILURE", context)

    def gateway_response(self, response_type: str, context: Mapping[str, str]) -> HttpResponse:
        """API Gateway's own response of this type, customised by the API's GatewayResponses
        (the specific type, else DEFAULT_4XX/DEFAULT_5XX) as the deployed API customises it."""
        status, message, error_type = _GATEWAY_DEFAULTS[response_type]
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        custom = (
            self.gateway_responses.get(response_type) or self.gateway_responses.get(family) or {}
        )
        status = int(custom.get("StatusCode", status))
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", context["request_id"]),
            ("x-amzn-ErrorType", error_type),
        ]
        body_template = custom.get("ResponseTemplates", {}).get("application/json")
        if body_template is None:
            return HttpResponse(status, headers, json.dumps({"message": message}).encode())
        variables = {
            "$context.error.responseType": response_type,
            "$context.error.messageString": json.dumps(message),
            "$context.error.message": message,
            "$context.httpMethod": context["method"],
            "$context.path": context["path"],
            "$context.requestId": context["request_id"],
        }
        body = str(body_template)
        for name in sorted(variables, key=len, reverse=True):  # messageString before message
            body = body.replace(name, variables[name])
        return HttpResponse(status, headers, body.encode())

    def proxy_event(
        self,
        route: Route,
        method: str,
        raw_path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
        api_key: str | None,
    ) -> dict[str, Any]:
        """The REST API proxy event (payload 1.0) API Gateway sends for this request."""
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value  # the last value wins, as in API Gateway
            multi.setdefault(name, []).append(value)
        pairs = parse_qsl(query, keep_blank_values=True)
        query_single = {k: v for k, v in pairs} or None
        query_multi: dict[str, list[str]] = {}
        for key, value in pairs:
            query_multi.setdefault(key, []).append(value)
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
        now = datetime.now(UTC)
        user_agent = single.get("User-Agent") or single.get("user-agent")
        return {
            "resource": route.path,
            "path": raw_path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": query_single,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "resourceId": route.function,
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.stage}{raw_path}",
                "stage": self.stage,
                "protocol": "HTTP/1.1",
                "domainName": single.get("Host", "127.0.0.1"),
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": user_agent,
                    "apiKey": api_key if route.api_key_required else None,
                    "apiKeyId": "local-api-key" if route.api_key_required else None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "accessKey": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                },
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }


def _from_proxy_result(result: Any, request_id: str) -> HttpResponse:
    """A Lambda proxy integration result to HTTP; a malformed one is API Gateway's 502."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        raise ValueError(f"malformed Lambda proxy response: {str(result)[:200]}")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.append(("x-amzn-RequestId", request_id))
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, payload)


def make_server(
    api: LocalApi, port: int = DEFAULT_PORT, host: str = "127.0.0.1", *, log_requests: bool = True
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = api.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            if log_requests:
                sys.stderr.write(
                    f"{time.strftime('%H:%M:%S')} {self.address_string()} {format % args}\n"
                )

    return ThreadingHTTPServer((host, port), Handler)


@contextmanager
def serving(api: LocalApi, port: int = 0, *, log_requests: bool = True) -> Iterator[str]:
    """Serve `api` on 127.0.0.1 in a background thread; yield its base URL."""
    server = make_server(api, port, log_requests=log_requests)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# `make api`'s stack: captures go straight to Firehose (the default log sink needs CloudWatch
# Logs subscription delivery, which moto does not run), so the monitor can read them; the
# monitor does not fork workers in this multi-threaded process (see demo.loop).
API_STACK_PARAMETERS = {"CaptureSink": "firehose", "MonitorWorkers": "1"}


@dataclass(frozen=True)
class RunningApi:
    url: str
    aws_endpoint: str
    stack: LocalStack
    champion_version: int
    routes: list[Route]
    model_name: str = ""


@dataclass(frozen=True)
class OwnModel:
    """The user's model for `make api`: trained from `data` before serving (when given),
    else its champion in the local registry is served."""

    name: str
    data: str | None = None
    target: str | None = None
    train_args: tuple[str, ...] = ()


@contextmanager
def stack_api(
    *,
    api_key: str,
    port: int = DEFAULT_PORT,
    stdout: TextIO | None = None,
    stack_name: str = STACK_NAME,
    parameters: Mapping[str, str] | None = None,
    model: OwnModel | None = None,
    registry_dir: Path | None = None,
) -> Iterator[RunningApi]:
    """Embedded AWS with the stack provisioned (`parameters` override the template's, as
    `sam deploy --parameter-overrides` does), the API served on 127.0.0.1:`port` (0: any
    free port) until the block ends, serving `model` (trained from its data first, when
    given) or else the demo churn model (trained if it has no champion). With
    `registry_dir`, the registry saved there is loaded first and saved back after training
    and at the end, and the running stack is described there for `make invoke`."""
    from embedded_aws import local_registry
    from embedded_aws.first_model import ensure_champion, train_from_file
    from embedded_aws.lambda_runtime import LocalFunction
    from embedded_aws.server import embedded_aws
    from modelops import aws

    overrides = {**API_STACK_PARAMETERS, **(parameters or {})}
    if model is not None:
        overrides["ModelName"] = model.name
    with embedded_aws() as endpoint:
        aws.reset_clients()  # shared clients must reach the embedded endpoint
        stack = provision_stack(stack_name=stack_name, parameters=overrides)
        s3 = aws.client("s3")
        name = str(stack.refs.get("ModelName") or parameter_default("ModelName"))
        if registry_dir is not None:
            local_registry.load_registry(s3, stack.bucket, registry_dir)
        if model is not None and model.data is not None:
            version = train_from_file(
                stack,
                model_name=name,
                data=model.data,
                target=model.target or "",
                train_args=model.train_args,
            )
            if registry_dir is not None:
                local_registry.save_registry(s3, stack.bucket, registry_dir)
        else:
            version = ensure_champion(stack, model_name=name)
        routes = routes_from_template(refs=stack.refs)
        functions = {
            r.function: LocalFunction.from_stack(stack, r.function, stdout=stdout) for r in routes
        }
        api = LocalApi(
            routes,
            lambda name, event: functions[name].invoke(event),
            api_key=api_key,
            stage=stage_name(refs=stack.refs),
            gateway_responses=gateway_responses_from_template(refs=stack.refs),
        )
        with serving(api, port, log_requests=stdout is None) as url:
            if registry_dir is not None:
                local_registry.write_stack_file(registry_dir, stack, api_url=url)
            try:
                yield RunningApi(url, endpoint, stack, version, routes, name)
            finally:
                if registry_dir is not None:
                    local_registry.remove_stack_file(registry_dir)
                    local_registry.save_registry(s3, stack.bucket, registry_dir)


def banner(running: RunningApi, api_key: str) -> str:
    """What `make api` prints once serving: endpoints, the key, and curl lines built from
    the served model's own schema (a complete example row, a label of its kind)."""
    from modelops.model_card import example_label, example_row
    from modelops.registry import ModelRegistry

    metadata = ModelRegistry(running.stack.bucket).get_metadata(
        running.model_name, running.champion_version
    )
    lines = [
        f"embedded AWS (moto): {running.aws_endpoint}   bucket: {running.stack.bucket}   "
        f"model: {running.model_name} v{running.champion_version} (champion)"
    ]
    for route in running.routes:
        key = "  (x-api-key)" if route.api_key_required else ""
        lines.append(f"  {route.method:6} {running.url}{route.path}  -> {route.function}{key}")
    predict = {"instances": [example_row(metadata)], "inference_ids": ["request-1"]}
    field = "value" if metadata.get("task") == "regression" else "label"
    feedback = {"labels": [{"inference_id": "request-1", field: example_label(metadata)}]}
    headers = f"-H 'Content-Type: application/json' -H 'x-api-key: {api_key}'"
    lines += [
        f"API key: {api_key}",
        "",
        f"curl -s -X POST {running.url}/predict {headers} \\",
        f"  -d '{json.dumps(predict)}'",
        f"curl -s -X POST {running.url}/feedback {headers} \\",
        f"  -d '{json.dumps(feedback)}'",
        "",
        "The modelops command line and the AWS CLI reach this embedded AWS with:",
        f"  export AWS_ENDPOINT_URL={running.aws_endpoint} MODELOPS_BUCKET={running.stack.bucket}",
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make api", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default %(default)s)"
    )
    parser.add_argument(
        "--data",
        help="train your own model from this .csv/.parquet file (or s3:// URI) before serving",
    )
    parser.add_argument("--target", help="with --data: the column to predict")
    parser.add_argument(
        "--model-name",
        help="the model to serve (default: the data file's name with --data, else the "
        "template's ModelName, the demo churn model)",
    )
    parser.add_argument(
        "--train-args",
        default="",
        help="with --data: more `modelops train` flags, one string (e.g. '--estimator linear')",
    )
    parser.add_argument(
        "--registry-dir",
        type=Path,
        default=None,
        help="where the local registry is kept between runs (default .modelops-local/)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as for sam deploy (e.g. ApiAnonymousAccess=true)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="the API key clients must send as x-api-key (default: a new random key)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    api_key = args.api_key or secrets.token_urlsafe(24)
    if args.data and not args.target:
        parser.error("--data needs --target (make api DATA=my.csv TARGET=price)")
    if args.target and not args.data:
        parser.error("--target goes with --data (make api DATA=my.csv TARGET=price)")
    if args.data and not args.data.startswith("s3://") and not Path(args.data).is_file():
        parser.error(f"--data {args.data}: no such file")
    # Say so now, not after the stack is provisioned and a model trained.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError as exc:
            print(
                f"cannot serve on 127.0.0.1:{args.port} ({exc.strerror}): choose another with "
                "PORT= (make api PORT=3001) or --port",
                file=sys.stderr,
            )
            return 2
    overrides = dict(item.split("=", 1) for item in args.parameter_overrides if "=" in item)
    if len(overrides) != len(args.parameter_overrides):
        parser.error("--parameter-overrides takes KEY=VALUE pairs")
    model = own_model(args, overrides)
    if model is not None:
        overrides["ModelName"] = model.name
    try:
        parameter_overrides(load_template(), overrides)
    except (KeyError, ValueError) as exc:
        parser.error(str(exc.args[0]))
    from embedded_aws.first_model import ModelNotAvailableError
    from embedded_aws.local_registry import DEFAULT_DIR

    print(
        "starting embedded AWS, provisioning the stack, "
        + (
            f"training {model.name} from {model.data}"
            if model and model.data
            else "loading the local registry"
        )
        + " ...",
        flush=True,
    )
    try:
        with stack_api(
            api_key=api_key,
            port=args.port,
            parameters=overrides,
            model=model,
            registry_dir=args.registry_dir or DEFAULT_DIR,
        ) as running:
            print(banner(running, api_key), flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("stopping (the registry is saved for the next run)")
    except ModelNotAvailableError as exc:
        print(f"make api: error: {exc}", file=sys.stderr)
        return 2
    return 0


def own_model(args: argparse.Namespace, overrides: Mapping[str, str]) -> OwnModel | None:
    """The model to serve, from --data/--model-name (None: the template's, the demo)."""
    name = args.model_name or overrides.get("ModelName")
    if args.data:
        stem = Path(urlsplit(args.data).path).stem.lower().replace("_", "-")
        name = name or stem
    if name is None:
        return None
    return OwnModel(
        name=name,
        data=args.data,
        target=args.target,
        train_args=tuple(shlex.split(args.train_args)),
    )


if __name__ == "__main__":
    sys.exit(main())
