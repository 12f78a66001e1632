"""FeedbackFunction: POST /feedback through API Gateway, and direct invocation with the same body.

Thin on purpose: configuration validated and the service wired at cold start; both doors
call FeedbackService.accept (modelops.feedback). 202 {"accepted": n}; invalid input is a
400 with every problem (HTTP) or an InvalidInput error (direct invocation).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops.feedback import FeedbackService, FeedbackSettings
from modelops.http import Response, create_resolver, is_api_gateway_event, read_json_body
from modelops.jsonio import direct_payload
from modelops.observability import MetricUnit, inject_request_context, metrics, tracer
from modelops.resilience import within_deadline

settings = FeedbackSettings.from_env()
service = FeedbackService.from_settings(settings)
app = create_resolver()


def _accept(body: Any) -> dict[str, int]:
    result = service.accept(body)
    metrics.add_dimension(name="ModelName", value=settings.stack.model_name)
    metrics.add_metric(name="FeedbackLabels", unit=MetricUnit.Count, value=result["accepted"])
    return result


@app.post("/feedback")
def feedback() -> Response:
    return Response(
        status_code=HTTPStatus.ACCEPTED, body=_accept(read_json_body(app.current_event))
    )


@inject_request_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@within_deadline  # dependency calls start only while the function's timeout leaves room
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_api_gateway_event(event):
        return app.resolve(event, context)
    # Direct invocation: InvalidInput propagates, so Lambda reports errorType "InvalidInput".
    return _accept(direct_payload(event))
