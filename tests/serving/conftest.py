"""Serving fixtures: PredictFunction loaded from template.yaml's CodeUri/Handler, with the
environment the template gives it, plus real-shaped events and a fake Lambda context."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

from embedded_aws.template import REPO_ROOT, function_environment, function_source, resolve
from tests.conftest import BUCKET

EVENTS = REPO_ROOT / "events"
CAPTURE_STREAM = "modelops-test-capture"


@dataclass
class FakeLambdaContext:
    """What Powertools reads from Lambda's context object."""

    function_name: str = "predict"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def api_event(
    body: Any = None,
    *,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """events/predict_api.json with another body (JSON-encoded unless raw) and headers."""
    event = copy.deepcopy(load_event("predict_api.json"))
    if raw_body is not None or body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
    if headers is not None:
        event["headers"] = headers
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event.update(overrides)
    return event


def template_environment(**overrides: str) -> dict[str, str]:
    """PredictFunction's environment as template.yaml declares it (parameter defaults)."""
    refs = {"ModelOpsBucket": BUCKET, "CaptureDeliveryStream": CAPTURE_STREAM}
    env = {
        key: str(value)
        for key, value in resolve(function_environment("PredictFunction"), refs).items()
    }
    env.update(overrides)
    return env


def handler_of(module: ModuleType) -> Callable[[Any, Any], Any]:
    """The function template.yaml's Handler names in the loaded module."""
    handler: Callable[[Any, Any], Any] = getattr(
        module, function_source("PredictFunction").attribute
    )
    return handler


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def predict_handler(
    monkeypatch: pytest.MonkeyPatch, bucket: str
) -> Iterator[Callable[..., ModuleType]]:
    """Load a fresh PredictFunction module (a cold start) with the template's environment
    plus `overrides`; the module is PredictFunction's Handler from its CodeUri."""
    loaded: list[str] = []

    def load(**overrides: str) -> ModuleType:
        for key, value in template_environment(**overrides).items():
            monkeypatch.setenv(key, value)
        source = function_source("PredictFunction")
        reset_cold_start_flag()  # a fresh module is a fresh execution environment
        name = f"predict_app_{uuid.uuid4().hex}"
        loaded.append(name)
        return load_module(source.code_dir / f"{source.module}.py", name)

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
