"""PredictFunction: POST /predict through API Gateway, and direct invocation with the same body;
GET /models/{name} describes the served model (its features and an example request).

Thin on purpose: configuration is validated, the service wired and the model loaded once
per execution environment (initialisation); a missing champion is not an initialisation
failure but a 503 for each request until one is promoted. Both doors call the same
PredictService.predict.
"""

from __future__ import annotations

import gc
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops.http import create_resolver, error_response, is_api_gateway_event, read_json_body
from modelops.observability import inject_request_context, metrics, tracer
from modelops.resilience import within_deadline
from modelops.serving.service import SOURCE_API, PredictService
from modelops.serving.settings import ServingSettings

service = PredictService.from_settings(ServingSettings.from_env())
service.warm()
app = create_resolver()
# What initialisation built (modules, clients, the model) lives as long as the environment:
# frozen out of the garbage collector, a full collection scans only what requests left behind
# (hundreds of thousands of objects less: milliseconds, every few large requests).
gc.freeze()


@app.post("/predict")
def predict() -> dict[str, Any]:
    return service.predict(
        read_json_body(app.current_event),
        source=SOURCE_API,
        request_id=app.lambda_context.aws_request_id,
    )


@app.get("/models/<name>")
def model_card(name: str) -> Any:
    card = service.model_card(name)
    if card is None:
        return error_response(
            HTTPStatus.NOT_FOUND,
            "NotFound",
            f"no model {name!r} here: this API serves {service.cache.model_name!r}",
        )
    return card


@inject_request_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@within_deadline  # dependency calls start only while the function's timeout leaves room
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_api_gateway_event(event):
        return app.resolve(event, context)
    # Direct invocation: InvalidInput propagates, so Lambda reports errorType "InvalidInput".
    return service.predict_direct(event, request_id=context.aws_request_id)
