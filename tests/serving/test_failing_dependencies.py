"""PredictFunction and FeedbackFunction against a hanging (black-hole) and a refusing S3.

The functions run as Lambda runs them (embedded_aws.LocalFunction: the template's
environment and Timeout, a context whose remaining time counts down) with every AWS client
pointed through AWS_ENDPOINT_URL at a local endpoint that relays to moto's server, or hangs,
or refuses. Small client timeouts come in through the environment (MODELOPS_AWS_*), so the
worst call is 2 x (0.2 + 0.3) s + 1 s = 2 s and each test takes a few seconds.

What must hold: a warm function with its model keeps answering 200 while S3 hangs or
refuses, calling S3 at most once per back-off step; a cold start answers 503 (counted)
within the function's timeout; everything recovers when S3 answers again.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from embedded_aws.faults import BLACK_HOLE, FORWARD, REFUSE, FaultyEndpoint, refused_endpoint
from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.provision import create_bucket
from embedded_aws.template import function_environment, resolve
from modelops import aws
from modelops.registry import ModelRegistry
from tests.models import publish_trained, sample_rows

pytestmark = pytest.mark.integration

SMALL_TIMEOUTS = {
    "MODELOPS_AWS_CONNECT_TIMEOUT": "0.2",
    "MODELOPS_AWS_READ_TIMEOUT": "0.3",
    "MODELOPS_AWS_MAX_ATTEMPTS": "2",
}
WORST_CALL_SECONDS = 2 * (0.2 + 0.3) + 1.0  # botocore sleeps at most 1 s before retry 1


class Stack:
    """A bucket with a champion on moto's server, and an endpoint in front of it."""

    def __init__(self, moto_endpoint: str, reader: str = "light") -> None:
        self.reader = reader  # how PredictFunction reads the registry: light_s3 or botocore
        self.s3 = boto3.client("s3", endpoint_url=moto_endpoint)
        self.bucket = create_bucket(self.s3, f"modelops-faults-{uuid.uuid4().hex[:12]}")
        self.registry = ModelRegistry(self.bucket, s3_client=self.s3)
        self.v1 = publish_trained(self.registry, "binary")["version"]
        self.endpoint = FaultyEndpoint(moto_endpoint, mode=FORWARD)
        self.logs = io.StringIO()

    def function(
        self, logical_id: str, endpoint_url: str | None = None, **env: str
    ) -> LocalFunction:
        resolved = resolve(
            function_environment(logical_id),
            {"ModelOpsBucket": self.bucket, "CaptureDeliveryStream": "unused"},
        )
        variables = {k: str(v) for k, v in resolved.items()}
        variables.update(
            SMALL_TIMEOUTS,
            AWS_ENDPOINT_URL=endpoint_url or self.endpoint.url,
            CAPTURE_SINK="off",
            MODELOPS_LIGHT_S3="1" if self.reader == "light" else "0",
            **env,
        )
        return LocalFunction(logical_id, variables, stdout=self.logs)

    def metrics(self) -> list[str]:
        """Names of the EMF metrics logged since the last call."""
        text = self.logs.getvalue()
        self.logs.seek(0)
        self.logs.truncate()
        names = []
        for line in text.splitlines():
            if line.startswith('{"_aws"'):
                for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                    names += [m["Name"] for m in directive["Metrics"]]
        return names


@pytest.fixture
def stack(moto_server_endpoint: str, request: pytest.FixtureRequest) -> Iterator[Stack]:
    # Imported once per process, as on Lambda before the clock of any request starts: the
    # first import of onnxruntime and Powertools takes seconds on a busy machine.
    importlib.import_module("modelops.serving.service")
    importlib.import_module("modelops.feedback")
    aws.reset_clients()
    built = Stack(moto_server_endpoint, getattr(request, "param", "light"))
    yield built
    built.endpoint.close()
    aws.reset_clients()


def predict_event(rows: int = 2) -> dict[str, Any]:
    return {"instances": sample_rows("binary", rows)[0]}


def module_of(function: LocalFunction) -> Any:
    return sys.modules[f"_lambda_{function.logical_id}_app"]


def timed(function: LocalFunction, event: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        result = function.invoke(event)
    except Exception as exc:  # a direct invocation's error is the result here
        result = exc
    return result, time.monotonic() - started


def wait_for_retry(schedule_seconds: float) -> None:
    time.sleep(schedule_seconds + 0.01)


@pytest.mark.parametrize("stack", ["light", "botocore"], indirect=True)
def test_warm_model_keeps_serving_while_s3_hangs_or_refuses_and_then_recovers(
    stack: Stack,
) -> None:
    predict = stack.function("PredictFunction", MODEL_REFRESH_SECONDS="0")
    assert predict.invoke(predict_event())["model"]["version"] == stack.v1
    cache = module_of(predict).service.cache

    for mode in (BLACK_HOLE, REFUSE):
        stack.endpoint.set_mode(mode)
        wait_for_retry(cache.seconds_until_retry)
        before = stack.endpoint.connections
        results = [timed(predict, predict_event()) for _ in range(20)]
        assert [r["model"]["version"] for r, _ in results] == [stack.v1] * 20
        # One alias probe (one attempt, one connection) for 20 requests: the rest back off.
        assert stack.endpoint.connections - before == 1
        assert results[0][1] < WORST_CALL_SECONDS  # the probing request: one attempt only
        assert cache.consecutive_failures >= 1
        assert "ModelLoadFailures" in stack.metrics()

    stack.endpoint.set_mode(FORWARD)
    v2 = publish_trained(stack.registry, "binary")["version"]  # promoted while S3 is back
    wait_for_retry(cache.seconds_until_retry)
    assert predict.invoke(predict_event())["model"]["version"] == v2
    assert cache.consecutive_failures == 0


@pytest.mark.parametrize("stack", ["light", "botocore"], indirect=True)
@pytest.mark.parametrize("mode", [BLACK_HOLE, REFUSE])
def test_cold_start_answers_503_within_the_timeout_and_recovers(stack: Stack, mode: str) -> None:
    stack.endpoint.set_mode(mode)
    predict = stack.function("PredictFunction")
    predict.initialise()  # Lambda's init phase: the load is tried (each attempt a connection)
    assert stack.endpoint.connections == int(SMALL_TIMEOUTS["MODELOPS_AWS_MAX_ATTEMPTS"])
    response, seconds = timed(predict, api_request(predict_event()))
    # The request, during the back-off, is answered at once, without a connection.
    assert seconds < predict.timeout_seconds
    assert stack.endpoint.connections == int(SMALL_TIMEOUTS["MODELOPS_AWS_MAX_ATTEMPTS"])
    assert response["statusCode"] == 503
    error = json.loads(response["body"])["error"]
    assert error["type"] == "ModelUnavailable"
    assert "registry is unreachable" in error["message"]
    assert {"ModelLoadFailures", "UnavailableRequests"} <= set(stack.metrics())

    stack.endpoint.set_mode(FORWARD)
    wait_for_retry(module_of(predict).service.cache.seconds_until_retry)
    response = predict.invoke(api_request(predict_event()))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["model"]["version"] == stack.v1


@pytest.mark.parametrize("stack", ["light", "botocore"], indirect=True)
def test_cold_start_against_a_refused_port_answers_503_at_once(stack: Stack) -> None:
    predict = stack.function("PredictFunction", endpoint_url=refused_endpoint())
    predict.initialise()
    response, seconds = timed(predict, api_request(predict_event()))
    assert response["statusCode"] == 503
    assert seconds < predict.timeout_seconds
    assert "UnavailableRequests" in stack.metrics()


@pytest.mark.parametrize("stack", ["light", "botocore"], indirect=True)
def test_request_cold_start_stops_at_the_function_timeout(stack: Stack) -> None:
    """The load retried inside a request (after the back-off) never outlives the timeout."""
    stack.endpoint.set_mode(BLACK_HOLE)
    predict = stack.function("PredictFunction")
    predict.initialise()  # the load failed: back-off started
    wait_for_retry(module_of(predict).service.cache.seconds_until_retry)
    # Room for the alias call at its worst (2 s) and the 0.5 s reserve, not for another.
    predict.timeout_seconds = 2.6
    before = stack.endpoint.connections
    response, seconds = timed(predict, api_request(predict_event()))
    assert response["statusCode"] == 503
    assert stack.endpoint.connections > before  # the call was made, and given up in time
    assert seconds < predict.timeout_seconds


def test_feedback_answers_503_while_s3_hangs_and_accepts_again_after(stack: Stack) -> None:
    feedback = stack.function("FeedbackFunction")
    body = {"labels": [{"inference_id": "a-1", "label": "yes"}]}
    assert feedback.invoke(body) == {"accepted": 1}  # the schema is cached

    stack.endpoint.set_mode(BLACK_HOLE)
    response, seconds = timed(feedback, api_request(body, path="/feedback"))
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["1"]
    error = json.loads(response["body"])["error"]
    assert error["type"] == "ServiceUnavailable"
    assert "nothing was accepted" in error["message"]
    # The alias probe (one attempt) and the write (all attempts), never more.
    assert seconds < feedback.timeout_seconds
    assert "UnavailableRequests" in stack.metrics()
    # Both back off: the next requests are answered at once, without a connection.
    before = stack.endpoint.connections
    for _ in range(3):
        response, _ = timed(feedback, api_request(body, path="/feedback"))
        assert response["statusCode"] == 503
        assert "failed recently" in json.loads(response["body"])["error"]["message"]
    assert stack.endpoint.connections == before

    stack.endpoint.set_mode(FORWARD)
    time.sleep(1.01)  # the first back-off step
    assert feedback.invoke(body) == {"accepted": 1}


def test_feedback_cold_start_against_a_hanging_s3_answers_503_in_time(stack: Stack) -> None:
    stack.endpoint.set_mode(BLACK_HOLE)
    feedback = stack.function("FeedbackFunction")
    feedback.initialise()
    body = {"labels": [{"inference_id": "a-1", "label": "yes"}]}
    response, seconds = timed(feedback, api_request(body, path="/feedback"))
    assert response["statusCode"] == 503
    assert seconds < feedback.timeout_seconds
    # While backing off, the next request is answered without waiting for S3 again.
    before = stack.endpoint.connections
    response, _ = timed(feedback, api_request(body, path="/feedback"))
    assert response["statusCode"] == 503
    assert stack.endpoint.connections == before
    assert {"ModelLoadFailures", "UnavailableRequests"} <= set(stack.metrics())


def api_request(body: Any, *, path: str = "/predict") -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "path": f"/Prod{path}",
            "requestId": str(uuid.uuid4()),
            "stage": "Prod",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
