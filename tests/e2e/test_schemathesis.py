"""schemathesis against the local API (`make api`'s stack on embedded AWS), from
docs/openapi.yaml: requests generated from the document (valid ones and, in negative mode,
invalid ones) must never get a 5xx, and every answer must be one the document lists, in its
content type and schema.

Bounded in `make test` (SCHEMATHESIS_EXAMPLES per route and mode, default 25); `make fuzz`
runs 500. The suite's figure is in docs/RELIABILITY.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from embedded_aws.local_api import RunningApi, stack_api
from embedded_aws.template import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]
KEY = "schemathesis-key"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))


def not_a_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """0 x 5xx: a 500 or 503 is the service's fault (no model, a bug), never the request's."""
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: "
        f"{response.text[:500]} (body sent: {str(case.body)[:300]})"
    )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def running() -> Iterator[RunningApi]:
    with stack_api(api_key=KEY, port=0, stack_name=f"schemathesis-{uuid.uuid4().hex[:8]}") as api:
        yield api


OPERATIONS = [("/predict", "POST"), ("/feedback", "POST"), ("/models/{name}", "GET")]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=lambda v: str(v))
def test_generated_requests_get_documented_answers_and_no_5xx(
    running: RunningApi, path: str, method: str, mode: GenerationMode
) -> None:
    document = yaml.safe_load((REPO_ROOT / "docs" / "openapi.yaml").read_text())
    config = schemathesis.Config.from_dict({"base-url": running.url})
    operation = schemathesis.openapi.from_dict(document, config=config)[path][method]
    sent: list[int] = []

    # Hypothesis drives schemathesis' strategy directly (its pytest plugin's lazy fixture
    # loader does not run under this pytest).
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        response = case.call(headers={"x-api-key": KEY}, timeout=60)
        sent.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    check()
    assert sent, "no request was generated"
    if mode is GenerationMode.NEGATIVE and method == "POST":
        assert all(400 <= status < 500 for status in sent), sent
