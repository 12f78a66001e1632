"""Latency of PredictFunction and FeedbackFunction while S3 hangs or refuses, and recovery.

    .venv/bin/python benchmarks/bench_dependencies.py [--requests 50]

The functions run as Lambda runs them (embedded_aws.LocalFunction: the template's own
environment, so its real client timeouts and retry budget, and its Timeout) against moto's
server through a local endpoint (embedded_aws.faults) that relays, hangs (accepts and never
answers: a black hole) or resets every connection. For each condition, blocks of requests
interleaved with a healthy block, median and worst per request:

- warm: a model in memory, MODEL_REFRESH_SECONDS=0 (every request wants a refresh, the
  worst case for a failing registry);
- cold: a fresh execution environment (initialisation + first request), and the second
  request (during the back-off);
- feedback: a warm FeedbackFunction (schema cached) whose write hangs or is refused;
- recovery: from the dependency's return to the first 200.
Prints Markdown tables (docs/RELIABILITY.md, "Failing dependencies").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from embedded_aws.faults import BLACK_HOLE, FORWARD, REFUSE, FaultyEndpoint
from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.provision import create_bucket
from embedded_aws.server import embedded_aws
from embedded_aws.template import function_environment, resolve
from modelops import aws
from modelops.registry import ModelRegistry
from tests.models import publish_trained, sample_rows

ROWS = sample_rows("binary", 2)[0]


def function(logical_id: str, bucket: str, endpoint: str, **env: str) -> LocalFunction:
    resolved = resolve(
        function_environment(logical_id),
        {"ModelOpsBucket": bucket, "CaptureDeliveryStream": "unused"},
    )
    variables = {k: str(v) for k, v in resolved.items()}
    variables.update(AWS_ENDPOINT_URL=endpoint, CAPTURE_SINK="off", **env)
    return LocalFunction(logical_id, variables, stdout=io.StringIO())


def timed(fn: LocalFunction, event: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        result = fn.invoke(event)
    except Exception as exc:
        result = exc
    return result, time.monotonic() - started


def outcome(result: Any) -> str:
    if isinstance(result, Exception):
        return type(result).__name__
    if isinstance(result, dict) and "statusCode" in result:
        return str(result["statusCode"])
    return (
        "200" if isinstance(result, dict) and ("model" in result or "accepted" in result) else "?"
    )


def api(body: Any, path: str) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "requestId": "r"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def block(fn: LocalFunction, event: Any, n: int) -> tuple[list[float], set[str]]:
    seconds, outcomes = [], set()
    for _ in range(n):
        result, took = timed(fn, event)
        seconds.append(took)
        outcomes.add(outcome(result))
    return seconds, outcomes


def row(label: str, seconds: list[float], outcomes: set[str]) -> str:
    return (
        f"| {label} | {len(seconds)} | {statistics.median(seconds) * 1000:.1f} | "
        f"{max(seconds) * 1000:.0f} | {', '.join(sorted(outcomes))} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    n = args.requests
    lines = [
        "| condition | requests | median ms | worst ms | answers |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    with embedded_aws() as moto:
        s3 = boto3.client("s3", endpoint_url=moto)
        bucket = create_bucket(s3, f"bench-deps-{uuid.uuid4().hex[:8]}")
        registry = ModelRegistry(bucket, s3_client=s3)
        publish_trained(registry, "binary")
        with FaultyEndpoint(moto, mode=FORWARD) as endpoint:
            aws.reset_clients()
            predict = function("PredictFunction", bucket, endpoint.url, MODEL_REFRESH_SECONDS="0")
            predict.invoke({"instances": ROWS})
            for mode in (BLACK_HOLE, REFUSE):
                endpoint.set_mode(FORWARD)
                seconds, outs = block(predict, {"instances": ROWS}, n)
                lines.append(row("warm predict, S3 healthy", seconds, outs))
                endpoint.set_mode(mode)
                seconds, outs = block(predict, {"instances": ROWS}, n)
                lines.append(row(f"warm predict, S3 {mode}", seconds, outs))
            # Recovery of the warm function: S3 back, a promotion to pick up.
            endpoint.set_mode(FORWARD)
            publish_trained(registry, "binary")
            cache = sys.modules["_lambda_PredictFunction_app"].service.cache
            back = time.monotonic()
            while predict.invoke({"instances": ROWS})["model"]["version"] != 2:
                time.sleep(0.05)
            lines.append(
                f"| warm predict, S3 back: new champion served after | | | "
                f"{(time.monotonic() - back) * 1000:.0f} | 200 (back-off step was "
                f"{cache.seconds_until_retry:.0f} s left) |"
            )

            for mode in (BLACK_HOLE, REFUSE):
                endpoint.set_mode(mode)
                aws.reset_clients()
                sys.modules.pop("_lambda_PredictFunction_app", None)
                cold = function("PredictFunction", bucket, endpoint.url)
                result, took = timed(cold, api({"instances": ROWS}, "/predict"))
                lines.append(
                    row(f"cold predict (init + request), S3 {mode}", [took], {outcome(result)})
                )
                seconds, outs = block(cold, api({"instances": ROWS}, "/predict"), n)
                lines.append(row(f"cold predict, next requests, S3 {mode}", seconds, outs))
                endpoint.set_mode(FORWARD)
                back = time.monotonic()
                while outcome(cold.invoke(api({"instances": ROWS}, "/predict"))) != "200":
                    time.sleep(0.05)
                lines.append(
                    f"| cold predict, S3 back: first 200 after | | | "
                    f"{(time.monotonic() - back) * 1000:.0f} | 200 |"
                )

            aws.reset_clients()
            endpoint.set_mode(FORWARD)
            feedback = function("FeedbackFunction", bucket, endpoint.url)
            body = {"labels": [{"inference_id": "x", "label": "yes"}]}
            feedback.invoke(body)
            for mode in (BLACK_HOLE, REFUSE):
                endpoint.set_mode(mode)
                seconds, outs = block(feedback, api(body, "/feedback"), max(3, n // 10))
                lines.append(row(f"warm feedback, S3 {mode}", seconds, outs))
            endpoint.set_mode(FORWARD)
            time.sleep(1.1)
            seconds, outs = block(feedback, api(body, "/feedback"), 3)
            lines.append(row("warm feedback, S3 back", seconds, outs))

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.processor() or '?'}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    print("template timeouts: MODELOPS_AWS_CONNECT_TIMEOUT/READ_TIMEOUT/MAX_ATTEMPTS as deployed")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
