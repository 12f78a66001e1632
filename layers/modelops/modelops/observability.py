"""The one place that creates the Powertools Logger, Tracer and Metrics of every function.

Service name, log level and whether tracing is on come from the standard Powertools
environment variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL,
POWERTOOLS_TRACE_DISABLED) that template.yaml sets; the metrics namespace is fixed by the
public contract. Metric names are listed in docs/METRICS.md.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.constants import (
    MAX_DIMENSIONS,
    MAX_METRICS,
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


class LeanEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' CloudWatch EMF provider, writing the same documents for less per request.

    A metric name this provider has accepted once, with a MetricUnit, standard resolution and
    an int or float value, is stored without re-validating it (Powertools checks the name,
    the unit and the resolution and formats a debug message on every call); anything else
    takes Powertools' own path and its checks. A flush writes the request's metrics as one
    EMF document in one write, encoded with orjson (Powertools: json.dumps, then print).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accepted: set[str] = set()
        self._disabled_by: tuple[str | None, str | None] | None = None
        self._is_disabled = False
        # (default dimensions, the dimension set Powertools' clear left for them)
        self._cleared_with: tuple[dict[str, Any], dict[str, str]] | None = None

    def add_metric(
        self, name: str, unit: MetricUnit | str, value: float, resolution: Any = 60
    ) -> None:
        kind = type(value)
        if (
            name not in self._accepted
            or type(unit) is not MetricUnit
            or resolution != 60
            or (kind is not float and kind is not int)
        ):
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)
            if name == name.strip():
                self._accepted.add(name)
            return
        metric = self.metric_set.get(name)
        if metric is None:
            metric = self.metric_set[name] = defaultdict(list)
        metric["Unit"] = unit.value
        metric["StorageResolution"] = 60
        metric["Value"].append(float(value))
        if len(self.metric_set) == MAX_METRICS or len(metric["Value"]) == MAX_METRICS:
            # Powertools' rule: a full set is written at once and the collection goes on.
            self._write(self.serialize_metric_set())
            self.metric_set.clear()

    def add_dimension(self, name: str, value: str) -> None:
        # A new dimension with a plain value, within the limit: what Powertools stores after
        # its checks (each would pass), without them; anything else takes its own path.
        dimensions = self.dimension_set
        if (
            type(value) is not str
            or name in dimensions
            or len(dimensions) >= MAX_DIMENSIONS
            or not value.strip()
            or not name.strip()
        ):
            super().add_dimension(name=name, value=value)
            return
        dimensions[name] = value

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set or self.service or self.namespace is None or self._disabled():
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
            return
        self._write(self._document())
        self.clear_metrics()

    def _disabled(self) -> bool:
        # Powertools reads and parses its two variables on every flush; they are read here
        # and parsed again only when they change.
        key = (os.environ.get("POWERTOOLS_DEV"), os.environ.get("POWERTOOLS_METRICS_DISABLED"))
        if key != self._disabled_by:
            self._disabled_by, self._is_disabled = key, is_metrics_disabled()
        return self._is_disabled

    def _document(self) -> dict[str, Any]:
        """Powertools' serialize_metric_set for a provider without a service dimension: the
        same document, without its per-call checks and debug message."""
        definitions: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        for name, metric in self.metric_set.items():
            definition = {"Name": name, "Unit": metric.get("Unit", "")}
            if metric.get("StorageResolution", 60) == 1:
                definition["StorageResolution"] = 1
            definitions.append(definition)
            values[name] = metric.get("Value", 0)
        arrays = [list(self.dimension_set)]
        dimensions = dict(self.dimension_set)
        for extra in self.dimension_sets:
            dimensions.update(extra)
            arrays.append(list(extra))
        return {
            "_aws": {
                "Timestamp": self.timestamp or int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": self.namespace, "Dimensions": arrays, "Metrics": definitions}
                ],
            },
            **dimensions,
            **self.metadata_set,
            **values,
        }

    def clear_metrics(self) -> None:
        """Powertools' clear (its sets emptied, the default dimensions set again); the default
        dimensions' set is remembered from its own first clear, not validated every time."""
        if self._cleared_with is None or self._cleared_with[0] != self.default_dimensions:
            super().clear_metrics()
            self._cleared_with = (dict(self.default_dimensions), dict(self.dimension_set))
            return
        self.metric_set.clear()
        self.dimension_set.clear()
        self.dimension_sets.clear()
        self.metadata_set.clear()
        self.dimension_set.update(self._cleared_with[1])

    @staticmethod
    def _write(document: Mapping[str, Any]) -> None:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE).decode())


def lean_metrics(namespace: str) -> Metrics:
    """Powertools' Metrics (same API, same shared state) on the LeanEMFProvider. service=""
    keeps Powertools from adding a `service` dimension to every metric: the contract's
    dimensions are ModelName (and ModelVersion, Feature), which alarms match exactly."""
    shared = Metrics(namespace=namespace, service="")
    shared.provider = LeanEMFProvider(
        namespace=namespace,
        service="",
        metric_set=shared.metric_set,
        dimension_set=shared.dimension_set,
        metadata_set=shared.metadata_set,
        default_dimensions=shared.default_dimensions,
    )
    return shared


def api_request_id(event: Any) -> str | None:
    """requestContext.requestId of an API Gateway (REST or HTTP API) or Function URL event,
    what Powertools' correlation_paths.API_GATEWAY_REST finds, read without a JMESPath query;
    None for anything else (a direct invocation has nothing to correlate)."""
    if type(event) is not dict:
        return None
    context = event.get("requestContext")
    if type(context) is not dict:
        return None
    request_id = context.get("requestId")
    return request_id if isinstance(request_id, str) else None


def inject_request_context[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Powertools' logger context (function name, memory, ARN, request id, cold start) on
    every log line, and the API request id as `correlation_id` (cleared for a direct
    invocation, so one request's id never shows on the next one's lines).

    The keys are Powertools' `inject_lambda_context` keys, set by one `append_keys` call per
    request (its decorator builds a context model and appends twice). Where that decorator
    does more (POWERTOOLS_LOGGER_LOG_EVENT, a log sampling rate), it is used as it is."""

    @functools.wraps(handler)
    def correlated(*args: P.args, **kwargs: P.kwargs) -> R:
        logger.set_correlation_id(api_request_id(args[0] if args else kwargs.get("event")))
        return handler(*args, **kwargs)

    log_event = resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_LOGGER_LOG_EVENT", "false"))
    if log_event or logger.sampling_rate:
        decorated: Callable[P, R] = logger.inject_lambda_context(correlated)
        return decorated
    cold = [os.getenv("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"]

    @functools.wraps(handler)
    def lean(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        cold_start, cold[0] = cold[0], False
        logger.append_keys(
            cold_start=cold_start,
            function_name=context.function_name,
            function_memory_size=context.memory_limit_in_mb,
            function_arn=context.invoked_function_arn,
            function_request_id=context.aws_request_id,
            correlation_id=api_request_id(event),
        )
        return handler(event, context, *args, **kwargs)

    return cast(Callable[P, R], lean)


logger = Logger()
tracer: Tracer | DisabledTracer = Tracer() if tracing_enabled() else DisabledTracer()
metrics = lean_metrics(METRICS_NAMESPACE)


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
    "LeanEMFProvider",
    "MetricUnit",
    "api_request_id",
    "count_invalid_request",
    "emit_model_metric",
    "inject_request_context",
    "logger",
    "metrics",
    "tracer",
    "tracing_enabled",
]
