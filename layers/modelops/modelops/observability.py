"""The one place that creates the Powertools Logger, Tracer and Metrics of every function.

Service name, log level and whether tracing is on come from the standard Powertools
environment variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL,
POWERTOOLS_TRACE_DISABLED) that template.yaml sets; the metrics namespace is fixed by the
public contract. Metric names are listed in docs/METRICS.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

METRICS_NAMESPACE = "ModelOps"


class DisabledTracer:
    """Stands in for Powertools' Tracer when tracing is switched off.

    Creating a Tracer initialises the X-Ray SDK's recorder even when tracing is disabled,
    which costs about 0.2 s of every cold start; with tracing off nothing is recorded
    anyway, so the decorators are left out altogether.
    """

    def capture_lambda_handler(
        self, lambda_handler: Callable[..., Any] | None = None, **_: Any
    ) -> Any:
        return lambda_handler if lambda_handler is not None else _identity

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        return method if method is not None else _identity


def _identity[F: Callable[..., Any]](function: F) -> F:
    return function


def tracing_enabled() -> bool:
    return not resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))


logger = Logger()
tracer: Tracer | DisabledTracer = Tracer() if tracing_enabled() else DisabledTracer()
# service="" keeps Powertools from adding a `service` dimension to every metric: the
# contract's dimensions are ModelName (and ModelVersion, Feature), which alarms match exactly.
metrics = Metrics(namespace=METRICS_NAMESPACE, service="")


def emit_model_metric(name: str, value: float, *, model_name: str) -> None:
    """A count with the ModelName dimension only, written at once: what alarms watch (with
    ModelVersion too, an alarm would have to name the version it watches)."""
    provider = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE, service="")
    provider.add_dimension(name="ModelName", value=model_name)
    provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
    provider.flush_metrics()


def count_invalid_request() -> None:
    """One request refused for bad client input (any door, any function): InvalidRequests."""
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)


__all__ = [
    "METRICS_NAMESPACE",
    "DisabledTracer",
    "MetricUnit",
    "count_invalid_request",
    "emit_model_metric",
    "logger",
    "metrics",
    "tracer",
    "tracing_enabled",
]
