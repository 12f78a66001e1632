"""The one place that creates the Powertools Logger, Tracer and Metrics of every function.

Service name, log level and whether tracing is on come from the standard Powertools
environment variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL,
POWERTOOLS_TRACE_DISABLED) that template.yaml sets; the metrics namespace is fixed by the
public contract. Metric names are listed in docs/METRICS.md.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "ModelOps"

logger = Logger()
tracer = Tracer()
# service="" keeps Powertools from adding a `service` dimension to every metric: the
# contract's dimensions are ModelName (and ModelVersion, Feature), which alarms match exactly.
metrics = Metrics(namespace=METRICS_NAMESPACE, service="")



def count_invalid_request() -> None:
    """One request refused for bad client input (any door, any function): InvalidRequests."""
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)


__all__ = ["METRICS_NAMESPACE", "MetricUnit", "count_invalid_request", "logger", "metrics", "tracer"]
