"""HTTP for every API function: the one place that maps domain exceptions to responses.

`create_resolver()` gives the function's API door (ApiDoor) for API Gateway REST proxy events
(payload 1.0) and for HTTP API / Function URL events (payload 2.0), with the same routes and
error handling producing the contract's error body (docs: contract section 3)::

    {"error": {"type": "InvalidInput", "message": "...", "details": [{"row": 0, "field": "x", "problem": "..."}],
               "problem_count": 1}}

`details` lists at most the first 20 problems; `problem_count` counts them all. An event that
looks like an HTTP event but is not one (a null method, a body that is not text) is a 400 in
the same shape, never an exception inside the resolver.

`read_json_body()` is the one request-body reader (content type, base64, size in bytes,
strict JSON through modelops.jsonio). Callers never build error responses themselves: they
raise InvalidInput (400/413/415), NoChampionError/ModelUnavailableError (503), and anything
unexpected becomes a 500 that names only the request id.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import chain
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops.errors import (
    DependencyUnavailableError,
    InvalidInput,
    ModelNotFoundError,
    ModelUnavailableError,
    Problem,
    Problems,
    echo,
)
from modelops.jsonio import NonFiniteNumber, encode_json, parse_client_json
from modelops.observability import count_invalid_request, logger

__all__ = ["NonFiniteNumber", "Response", "create_resolver", "read_json_body", "serialize_json"]

# API Gateway's own limit is 10 MB and Lambda's synchronous payload 6 MB; a body this many
# bytes (UTF-8, after base64 decoding) or more is refused with 413 before it is parsed.
MAX_BODY_BYTES = 6 * 1024 * 1024
JSON_MEDIA_TYPES = ("application/json",)
APPLICATION_JSON = "application/json"


def parse_json(text: str) -> Any:
    """Strict JSON from a client (modelops.jsonio.parse_client_json)."""
    return parse_client_json(text)


def event_format(event: Any) -> str | None:
    """ "1.0" for a REST API (or HTTP API 1.0) proxy event, "2.0" for an HTTP API or Function
    URL event, None for anything else (a direct invocation's payload)."""
    if not isinstance(event, Mapping):
        return None
    if event.get("version") == "2.0" and ("rawPath" in event or "routeKey" in event):
        return "2.0"
    if "httpMethod" in event or "requestContext" in event:
        return "1.0"
    return None


def is_api_gateway_event(event: Any) -> bool:
    """An HTTP event (API Gateway or Function URL) as opposed to a direct invocation's payload."""
    return event_format(event) is not None


def _check_type(
    problems: Problems, container: Mapping[str, Any], key: str, kinds: tuple[type, ...]
) -> None:
    value = container.get(key)
    if not isinstance(value, kinds):
        names = " or ".join(
            "null" if k is type(None) else _JSON_NAMES.get(k, k.__name__) for k in kinds
        )
        problems.append(Problem(f"expected {names}, got {_json_kind(value)}", field=key))


_JSON_NAMES = {str: "a string", dict: "an object", list: "an array", bool: "a boolean"}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return _JSON_NAMES.get(type(value), "a value")


def _check_headers(problems: Problems, event: Mapping[str, Any], key: str, multi: bool) -> None:
    headers = event.get(key)
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        problems.append(
            Problem(f"expected an object or null, got {_json_kind(headers)}", field=key)
        )
        return
    if _plain_headers(headers, multi):
        return
    for name, value in headers.items():
        values = value if multi and isinstance(value, list) else [value]
        if (multi and not isinstance(value, list)) or not all(isinstance(v, str) for v in values):
            expected = "an array of strings" if multi else "a string"
            problems.append(Problem(f"expected {expected}", field=f"{key}.{name}"))


def _plain_headers(headers: Any, multi: bool) -> bool:
    """Absent, or an object of strings (of arrays of strings when `multi`): in C speed, as
    this runs on every request."""
    if headers is None:
        return True
    if type(headers) is not dict:
        return False
    kinds = set(map(type, headers.values()))
    return kinds <= ({list} if multi else {str}) and (
        not multi or set(map(type, chain.from_iterable(headers.values()))) <= {str}
    )


_TEXT_OR_NULL = (str, type(None))
_FLAG_OR_NULL = (bool, type(None))
_OBJECT_OR_NULL = (dict, type(None))


def _plainly_readable(event: Mapping[str, Any]) -> bool:
    """A REST (1.0) event as API Gateway sends it: every field event_problems checks has its
    plain type. A quick yes for the common case; anything else gets the itemised check."""
    get = event.get
    return (
        type(get("httpMethod")) is str
        and type(get("path")) is str
        and type(get("requestContext")) is dict
        and type(get("body")) in _TEXT_OR_NULL
        and type(get("isBase64Encoded")) in _FLAG_OR_NULL
        and type(get("pathParameters")) in _OBJECT_OR_NULL
        and _plain_headers(get("headers"), False)
        and _plain_headers(get("multiValueHeaders"), True)
        and _plain_headers(get("queryStringParameters"), False)
        and _plain_headers(get("multiValueQueryStringParameters"), True)
    )


def event_problems(event: Mapping[str, Any], version: str, *, quick: bool = True) -> Problems:
    """What keeps `event` from being read as the HTTP event its format says it is. `quick`:
    a plainly readable REST event is passed at once (False: every field itemised, the
    reference the quick check must agree with)."""
    problems = Problems()
    if quick and version == "1.0" and _plainly_readable(event):
        return problems
    optional_text = (str, type(None))
    if version == "2.0":
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        if not isinstance(http, Mapping) or not isinstance(http.get("method"), str):
            problems.append(Problem("expected a string", field="requestContext.http.method"))
        _check_type(problems, event, "rawPath", (str,))
        _check_type(problems, event, "rawQueryString", optional_text)
        _check_headers(problems, event, "headers", multi=False)
        _check_type(problems, event, "cookies", (list, type(None)))
        _check_type(problems, event, "queryStringParameters", (dict, type(None)))
    else:
        _check_type(problems, event, "httpMethod", (str,))
        _check_type(problems, event, "path", (str,))
        _check_type(problems, event, "requestContext", (dict,))
        _check_headers(problems, event, "headers", multi=False)
        _check_headers(problems, event, "multiValueHeaders", multi=True)
        _check_headers(problems, event, "queryStringParameters", multi=False)
        _check_headers(problems, event, "multiValueQueryStringParameters", multi=True)
        _check_type(problems, event, "pathParameters", (dict, type(None)))
    # API Gateway always sends the body as text (base64 for binary), never as parsed JSON.
    _check_type(problems, event, "body", optional_text)
    _check_type(problems, event, "isBase64Encoded", (bool, type(None)))
    return problems


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header by lower-case name, read from the raw event (HTTP header names are
    case-insensitive; this avoids building Powertools' case-insensitive copy of all headers)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def read_json_body(event: Mapping[str, Any]) -> Any:
    """The request's JSON body, after checking its content type, encoding and size."""
    content_type = header(event, "content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            raise InvalidInput(
                "unsupported content type",
                [Problem(f"Content-Type must be application/json, got {content_type!r}")],
                status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            )
    raw = event.get("body")
    if raw is None or raw == "":
        raise InvalidInput("the request has no body", [Problem("expected a JSON object body")])
    if not isinstance(raw, str):  # direct callers of this reader; HTTP events are checked earlier
        raise InvalidInput("the request body is not text", [Problem("expected a JSON text body")])
    body: str = raw
    if event.get("isBase64Encoded"):
        # 4 base64 characters carry 3 bytes (less up to 2 of padding): refuse an oversize
        # body before decoding it.
        _check_size(len(raw) // 4 * 3 - 2)
        try:
            decoded = base64.b64decode(raw, validate=True)
            _check_size(len(decoded))
            body = decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "the request body is not valid base64 UTF-8 text",
                [Problem("isBase64Encoded is set but the body is not base64-encoded UTF-8")],
            ) from None
    else:
        # Characters never outnumber UTF-8 bytes: the byte count is needed only below the limit.
        _check_size(len(body))
        if not body.isascii():
            _check_size(len(body.encode("utf-8", "surrogatepass")))
    return parse_client_json(body)


def _check_size(size: int) -> None:
    if size >= MAX_BODY_BYTES:
        raise InvalidInput(
            "the request body is too large",
            [Problem(f"body is {size} bytes or more; the limit is {MAX_BODY_BYTES - 1} bytes")],
            status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )


def serialize_json(body: Any) -> str:
    """Response bodies, through the functions' one encoder (modelops.jsonio.encode_json)."""
    return encode_json(body).decode()


def error_body(
    error_type: str, message: str, details: list[dict[str, Any]] | None = None, count: int = 0
) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type,
            "message": message,
            "details": details or [],
            "problem_count": count,
        }
    }


@dataclass
class Response:
    """A route's answer other than a plain 200 JSON body: status, body (a JSON value, or text
    sent as is) and headers (Content-Type first)."""

    status_code: int
    body: Any
    content_type: str = APPLICATION_JSON
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {"Content-Type": self.content_type, **self.headers}


def error_response(
    status: int,
    error_type: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    count: int = 0,
) -> Response:
    return Response(status_code=status, body=error_body(error_type, message, details, count))


# A route's path parameter: what Powertools' resolvers matched (RFC 3986's safe and unsafe
# URI characters and word characters), kept so routes answer as they always have.
_PARAMETER = r"(?P<{}>[-._~()'!*:@,;=+&$%<> \[\]{{}}|^\w]+)"


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    rest_pattern: re.Pattern[str]  # REST APIs also match the path with trailing slashes
    function: Callable[..., Any]


class ApiDoor:
    """A function's HTTP door for API Gateway REST proxy events (payload 1.0) and HTTP API /
    Function URL events (payload 2.0): the same routes and error handlers on each.

    The door does what Powertools' APIGatewayRestResolver and APIGatewayHttpResolver did for
    these routes and answers byte for byte as they did (tests/serving/test_http_door.py),
    without their import cost (a fifth of a cold start: every event source's data classes,
    asyncio, OpenAPI models) or their per-request work (an event wrapper, a case-insensitive
    copy of the headers, middleware frames). A route returns a JSON value (200) or a Response;
    an exception becomes the contract's error body (`_error_response`).
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._event: Mapping[str, Any] = {}
        self._context: LambdaContext | None = None

    def post(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._route("POST", path)

    def get(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._route("GET", path)

    def _route(self, method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        rule = re.sub(r"<(\w+)>", lambda name: _PARAMETER.format(name.group(1)), path)

        def register(route: Callable[..., Any]) -> Callable[..., Any]:
            self._routes.append(
                _Route(method, re.compile(f"^{rule}$"), re.compile(f"^{rule}/*$"), route)
            )
            return route

        return register

    @property
    def current_event(self) -> Mapping[str, Any]:
        """The event being answered, as Lambda passed it."""
        return self._event

    @property
    def lambda_context(self) -> LambdaContext:
        assert self._context is not None, "only while an event is being answered"
        return self._context

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """The proxy response to an HTTP event (is_api_gateway_event(event) is true)."""
        version = event_format(event) or "1.0"
        problems = event_problems(event, version)
        if problems:
            # Not an event the door could read: answered here in the contract's shape.
            count_invalid_request()
            logger.info("malformed HTTP event", extra={"problems": len(problems)})
            exc = InvalidInput("the event is not a valid HTTP request event", problems)
            return {
                "statusCode": HTTPStatus.BAD_REQUEST.value,
                "headers": {"Content-Type": APPLICATION_JSON},
                "body": serialize_json(
                    error_body("InvalidInput", exc.message, exc.details(), exc.problem_count)
                ),
                "isBase64Encoded": False,
            }
        self._event, self._context = event, context
        try:
            response = self._answer(version)
        finally:
            self._event, self._context = {}, None
        return _proxy_response(response, version)

    def _answer(self, version: str) -> Response:
        method, path = _method_and_path(self._event, version)
        try:
            for route in self._routes:
                if route.method != method.upper():
                    continue
                pattern = route.rest_pattern if version == "1.0" else route.pattern
                matched = pattern.match(path)
                if matched:
                    result = route.function(**matched.groupdict())
                    return result if isinstance(result, Response) else Response(200, result)
            return error_response(
                HTTPStatus.NOT_FOUND, "NotFound", f"no route for {echo(method)} {echo(path)}"
            )
        except Exception as exc:
            return self._error_response(exc)

    def _error_response(self, exc: Exception) -> Response:
        """The contract's error for what a route raised (its 4xx, 503 and 500 mapping)."""
        if isinstance(exc, InvalidInput):
            logger.info(
                "invalid request", extra={"status": exc.status_code, "problems": exc.problem_count}
            )
            count_invalid_request()
            return error_response(
                exc.status_code, "InvalidInput", exc.message, exc.details(), exc.problem_count
            )
        if isinstance(exc, DependencyUnavailableError):
            # Our own message (what failed, that nothing was done); Retry-After invites a resend.
            logger.warning("dependency unavailable", extra={"reason": str(exc)})
            response = error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", str(exc)
            )
            response.headers["Retry-After"] = "1"
            return response
        if isinstance(exc, (ModelNotFoundError, ModelUnavailableError)):
            # Our own messages ("no champion yet", "could not be loaded"), never a library's.
            logger.warning("no model to serve", extra={"reason": str(exc)})
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "ModelUnavailable", str(exc))
        logger.exception("unexpected error")
        request_id = self._context.aws_request_id if self._context else "unknown"
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "InternalError",
            f"internal error (request id {request_id})",
        )


def _method_and_path(event: Mapping[str, Any], version: str) -> tuple[str, str]:
    """The request's method and the path routes match: REST's `path` as sent; for 2.0 the raw
    path less the stage's length unless the stage is $default (as Powertools read it)."""
    if version == "1.0":
        return event["httpMethod"], event["path"]
    context = event["requestContext"]
    path = event["rawPath"]
    stage = context["stage"]
    if stage != "$default":
        path = path[len("/" + stage) :]
    return context["http"]["method"], path


def _proxy_response(response: Response, version: str) -> dict[str, Any]:
    body = response.body
    if response.content_type == APPLICATION_JSON and not isinstance(body, str):
        body = serialize_json(body)
    out: dict[str, Any] = {
        "statusCode": int(response.status_code),
        "body": body,
        "isBase64Encoded": False,
    }
    if version == "1.0":
        out["multiValueHeaders"] = {name: [value] for name, value in response.headers.items()}
    else:
        out["headers"] = dict(response.headers)
        out["cookies"] = []
    return out


def create_resolver() -> ApiDoor:
    """The API door with the project's error mapping (routes are added by the caller)."""
    return ApiDoor()
