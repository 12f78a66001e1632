"""HTTP for every API function: the one place that maps domain exceptions to responses.

`create_resolver()` gives a Powertools APIGatewayRestResolver whose error handlers produce
the contract's error body (docs: contract section 3)::

    {"error": {"type": "InvalidInput", "message": "...", "details": [{"row": 0, "field": "x", "problem": "..."}]}}

`read_json_body()` is the one request-body reader (content type, base64, size, strict JSON
with NaN/Infinity reported instead of accepted). Callers never build error responses
themselves: they raise InvalidInput (400/413/415), NoChampionError/ModelUnavailableError
(503), and anything unexpected becomes a 500 that names only the request id.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from modelops.errors import (
    DependencyUnavailableError,
    InvalidInput,
    ModelNotFoundError,
    ModelUnavailableError,
    Problem,
)
from modelops.observability import count_invalid_request, logger

# API Gateway's own limit is 10 MB and Lambda's synchronous payload 6 MB; a body this size
# or more is refused with 413 before it is parsed.
MAX_BODY_BYTES = 6 * 1024 * 1024
JSON_MEDIA_TYPES = ("application/json",)


@dataclass(frozen=True)
class NonFiniteNumber:
    """A NaN/Infinity token in a JSON body: kept so validation can name its row and field.

    Python's json module accepts these non-standard tokens; the contract rejects them.
    """

    token: str

    def __repr__(self) -> str:
        return self.token


def parse_json(text: str) -> Any:
    """Strict JSON, except that NaN/Infinity become NonFiniteNumber for the validator to report."""
    try:
        return json.loads(text, parse_constant=NonFiniteNumber)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "the request body is not valid JSON",
            [Problem(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")],
        ) from None
    except RecursionError:
        raise InvalidInput(
            "the request body is not valid JSON", [Problem("JSON nested too deeply")]
        ) from None


def is_api_gateway_event(event: Any) -> bool:
    """An API Gateway REST proxy event (as opposed to a direct invocation's payload)."""
    return isinstance(event, Mapping) and "httpMethod" in event and "requestContext" in event


def header(event: APIGatewayProxyEvent, name: str) -> str | None:
    """A request header by lower-case name, read from the raw event (HTTP header names are
    case-insensitive; this avoids building Powertools' case-insensitive copy of all headers)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def read_json_body(event: APIGatewayProxyEvent) -> Any:
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
    body: str = raw
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "the request body is not valid base64 UTF-8 text",
                [Problem("isBase64Encoded is set but the body is not base64-encoded UTF-8")],
            ) from None
    if len(body) >= MAX_BODY_BYTES:
        raise InvalidInput(
            "the request body is too large",
            [Problem(f"body is {len(body)} characters; the limit is {MAX_BODY_BYTES}")],
            status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    return parse_json(body)


def serialize_json(body: Any) -> str:
    """Response bodies: compact JSON through orjson (several times the json module's speed
    on 1000-row responses)."""
    return orjson.dumps(body).decode()


def error_response(
    status: int, error_type: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"type": error_type, "message": message, "details": details or []}},
    )


def create_resolver() -> APIGatewayRestResolver:
    """A REST resolver with the project's error mapping registered (routes are added by the caller)."""
    app = APIGatewayRestResolver(serializer=serialize_json)

    @app.exception_handler(InvalidInput)
    def invalid_input(exc: InvalidInput) -> Response:
        logger.info(
            "invalid request", extra={"status": exc.status_code, "problems": len(exc.problems)}
        )
        count_invalid_request()
        return error_response(exc.status_code, "InvalidInput", exc.message, exc.details())

    @app.exception_handler(DependencyUnavailableError)
    def dependency_unavailable(exc: DependencyUnavailableError) -> Response:
        # Our own message (what failed, that nothing was done); Retry-After invites a resend.
        logger.warning("dependency unavailable", extra={"reason": str(exc)})
        response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler([ModelNotFoundError, ModelUnavailableError])
    def model_unavailable(exc: Exception) -> Response:
        # Our own messages ("no champion yet", "could not be loaded"), never a library's.
        logger.warning("no model to serve", extra={"reason": str(exc)})
        return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "ModelUnavailable", str(exc))

    @app.not_found
    def not_found(_exc: NotFoundError) -> Response:
        event = app.current_event
        return error_response(
            HTTPStatus.NOT_FOUND, "NotFound", f"no route for {event.http_method} {event.path}"
        )

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error")
        request_id = app.lambda_context.aws_request_id if app.lambda_context else "unknown"
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "InternalError",
            f"internal error (request id {request_id})",
        )

    return app
