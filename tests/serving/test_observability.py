"""The request path's observability is lean and says the same: the lean EMF provider writes
the documents Powertools' own provider writes for the same calls (one document, one write
per flush), and the logs' correlation id is the API request id, never a previous one's."""

from __future__ import annotations

import io
import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.constants import MAX_DIMENSIONS

from modelops.observability import (
    LeanEMFProvider,
    api_request_id,
    inject_request_context,
    lean_metrics,
    logger,
)
from tests.serving.conftest import FakeLambdaContext, api_event, load_event


def _calls(provider: Any, rows: int, metrics: int = 2) -> None:
    provider.add_dimension(name="ModelVersion", value="3")
    provider.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=rows)
    provider.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=rows + 1)
    for i in range(metrics - 1):
        provider.add_metric(name=f"M{i}", unit=MetricUnit.Milliseconds, value=0.25 * i)
    provider.add_metric(name="Odd", unit="Seconds", value=True, resolution=1)


def _provider(kind: type[AmazonCloudWatchEMFProvider], **defaults: Any) -> Any:
    provider = kind(
        namespace="ModelOps",
        service="",
        metric_set={},
        dimension_set={},
        metadata_set={},
        default_dimensions={},
    )
    provider.set_default_dimensions(**defaults)
    return provider


class _Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _documents(provider: Any, calls: int, metrics: int) -> tuple[list[dict[str, Any]], int]:
    out = _Writes()
    with redirect_stdout(out):
        for rows in range(calls):
            _calls(provider, rows, metrics)
            provider.flush_metrics()
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    for document in documents:
        document["_aws"].pop("Timestamp")
    return documents, out.writes


@pytest.mark.parametrize("metrics", [1, 98, 99, 100, 101])
def test_lean_provider_writes_what_powertools_writes(metrics: int) -> None:
    """Same documents for the same calls, around Powertools' 100-metric limit (a full set is
    written at once); the second round takes the lean path for names already accepted."""

    expected, _ = _documents(_provider(AmazonCloudWatchEMFProvider, ModelName="churn"), 3, metrics)
    lean = _provider(LeanEMFProvider, ModelName="churn")
    got, writes = _documents(lean, 3, metrics)
    assert got == expected
    if metrics < 98:  # (a set overflowing on a name's first use is written by Powertools)
        assert writes == len(got)  # one write per document: lines cannot interleave


def test_lean_provider_refuses_what_powertools_refuses() -> None:
    provider = lean_metrics("ModelOps").provider
    provider.add_metric(name="Rows", unit=MetricUnit.Count, value=1)
    with pytest.raises(Exception, match="not a valid number"):
        provider.add_metric(name="Rows", unit=MetricUnit.Count, value="1")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Invalid metric unit"):
        provider.add_metric(name="Rows", unit="Parsecs", value=1)
    provider.clear_metrics()


def test_api_request_id_is_what_the_correlation_path_finds() -> None:
    event = api_event({"instances": []})
    assert api_request_id(event) == event["requestContext"]["requestId"]
    assert api_request_id(load_event("predict_direct.json")) is None
    assert api_request_id({"requestContext": {"requestId": 7}}) is None
    assert api_request_id({"requestContext": "x"}) is None
    assert api_request_id([1]) is None


def test_correlation_id_is_cleared_by_a_direct_invocation() -> None:
    seen: list[Any] = []
    handler = inject_request_context(
        lambda event, context: seen.append(logger.get_correlation_id())
    )
    event = api_event({"instances": []})
    handler(event, FakeLambdaContext())
    handler(load_event("predict_direct.json"), FakeLambdaContext())
    assert seen == [event["requestContext"]["requestId"], None]


@contextmanager
def _log_lines() -> Iterator[list[dict[str, Any]]]:
    """The logger's lines written within the block, parsed (filled in at its end)."""
    stream, lines = io.StringIO(), []
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(json.loads(text) for text in stream.getvalue().splitlines())


def _logged(decorate: Any, event: Any, context: Any) -> dict[str, Any]:
    """The line `decorate`'s handler logs for `event`, without its time."""
    with _log_lines() as lines:
        decorate(lambda event, context: logger.info("answered"))(event, context)
    (line,) = lines
    line.pop("timestamp")
    return dict(line)


def _powertools(handler: Any) -> Any:
    """Powertools' own decorator with the correlation id set as inject_request_context sets it."""

    def correlated(event: Any, context: Any) -> Any:
        logger.set_correlation_id(api_request_id(event))
        return handler(event, context)

    return logger.inject_lambda_context(correlated)


@pytest.mark.parametrize("kind", ["api", "direct"])
def test_the_request_context_keys_are_powertools_own(kind: str) -> None:
    event = api_event({"instances": []}) if kind == "api" else load_event("predict_direct.json")
    context = FakeLambdaContext()
    ours = _logged(inject_request_context, event, context)
    theirs = _logged(_powertools, event, context)
    assert ours.keys() == theirs.keys()
    ours.pop("cold_start"), theirs.pop("cold_start")  # each decorator's own first call
    assert ours == theirs
    assert ours["function_request_id"] == context.aws_request_id
    assert ours["function_arn"] == context.invoked_function_arn
    assert ours.get("correlation_id") == api_request_id(event)


def test_only_the_first_request_of_an_environment_is_a_cold_start() -> None:
    seen: list[Any] = []
    handler = inject_request_context(
        lambda event, context: seen.append(logger.get_current_keys()["cold_start"])
    )
    for _ in range(3):
        handler({}, FakeLambdaContext())
    assert seen == [True, False, False]


def test_provisioned_concurrency_is_never_a_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    seen: list[Any] = []
    handler = inject_request_context(
        lambda event, context: seen.append(logger.get_current_keys()["cold_start"])
    )
    handler({}, FakeLambdaContext())
    assert seen == [False]


def test_a_logged_event_takes_powertools_own_decorator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    event = api_event({"instances": []})
    with _log_lines() as logged:
        inject_request_context(lambda event, context: None)(event, FakeLambdaContext())
    assert any(line["message"] == event for line in logged)


def _everything(provider: Any, round_: int) -> None:
    """Every kind of call a document is made of: dimension sets, metadata, resolutions."""
    provider.add_dimension(name="ModelVersion", value=str(round_))
    provider.add_dimensions(Feature="age", Window="1h")
    provider.add_metadata(key="requestId", value=f"r{round_}")
    provider.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=round_ + 1)
    provider.add_metric(name="Fast", unit=MetricUnit.Milliseconds, value=0.5, resolution=1)


@pytest.mark.parametrize("defaults", [{}, {"ModelName": "churn"}, {"ModelName": 7}])
def test_the_lean_document_and_clear_are_powertools_own(defaults: dict[str, Any]) -> None:
    documents = []
    for kind in (AmazonCloudWatchEMFProvider, LeanEMFProvider):
        provider = _provider(kind, **defaults)
        out = io.StringIO()
        with redirect_stdout(out):
            for round_ in range(3):
                _everything(provider, round_)
                provider.flush_metrics()
                if round_ == 1:  # a default dimension changed between requests
                    provider.set_default_dimensions(Stage="prod")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        for line in lines:
            assert abs(line["_aws"].pop("Timestamp") - time.time() * 1000) < 60_000
        documents.append((lines, dict(provider.dimension_set), provider.dimension_sets))
    assert documents[1] == documents[0]
    assert len(documents[0][0]) == 3


def test_the_lean_flush_writes_nothing_while_metrics_are_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = _provider(LeanEMFProvider, ModelName="churn")
    for disabled, dev, written in [
        ("true", None, 0),
        (None, "true", 0),
        ("false", "true", 1),
        (None, None, 1),
        ("1", None, 0),
    ]:
        for name, value in (("POWERTOOLS_METRICS_DISABLED", disabled), ("POWERTOOLS_DEV", dev)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        provider.clear_metrics()
        provider.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=1)
        out = io.StringIO()
        with redirect_stdout(out):
            provider.flush_metrics()
        assert len(out.getvalue().splitlines()) == written, (disabled, dev)


@pytest.mark.parametrize(
    "calls",
    [
        [("ModelVersion", "3")],
        [("ModelVersion", "3"), ("ModelVersion", "3")],
        [("ModelVersion", "3"), ("ModelVersion", "4")],  # overwritten, with a warning
        [("ModelVersion", " ")],  # not added, with a warning
        [(" ", "3")],
        [("ModelVersion", 3)],
        [(f"D{i}", "x") for i in range(MAX_DIMENSIONS)],  # one short of the limit
        [(f"D{i}", "x") for i in range(MAX_DIMENSIONS + 1)],  # beyond it: refused
    ],
)
def test_the_lean_dimension_is_powertools_own(calls: list[tuple[str, Any]]) -> None:
    outcomes = []
    for kind in (AmazonCloudWatchEMFProvider, LeanEMFProvider):
        provider = _provider(kind, ModelName="churn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                for name, value in calls:
                    provider.add_dimension(name=name, value=value)
                error = None
            except Exception as exc:  # Powertools' SchemaValidationError
                error = (type(exc), str(exc))
        outcomes.append((dict(provider.dimension_set), error, [str(w.message) for w in caught]))
    assert outcomes[1] == outcomes[0]
