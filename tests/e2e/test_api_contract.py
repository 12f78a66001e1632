"""docs/openapi.yaml is true: real responses of every route of `make api` (the template's
routes on embedded AWS) validate against the document's schema for their path, method and
status, and the document's routes are exactly the template's."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from embedded_aws.local_api import RunningApi, routes_from_template, stack_api
from embedded_aws.template import REPO_ROOT
from modelops.registry import ModelRegistry

pytestmark = pytest.mark.integration
KEY = "contract-key"
DOC = yaml.safe_load((REPO_ROOT / "docs" / "openapi.yaml").read_text())
URI = "urn:modelops:openapi"


REGISTRY = Registry().with_resource(URI, DRAFT202012.create_resource(DOC))


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the document gives this response (its $refs resolve in the document)."""
    operation = DOC["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} {status} is not documented"
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return resolvable(response["content"]["application/json"]["schema"])


def resolvable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its document-relative $refs made absolute (resolved in REGISTRY)."""
    resolved: dict[str, Any] = json.loads(
        json.dumps(schema).replace('"#/components/', f'"{URI}#/components/')
    )
    return resolved


def validate(path: str, method: str, status: int, body: Any) -> None:
    jsonschema.Draft202012Validator(
        response_schema(path, method, status), registry=REGISTRY
    ).validate(body)


def validate_request(path: str, method: str, body: Any) -> None:
    content = DOC["paths"][path][method.lower()]["requestBody"]["content"]
    schema = resolvable(content["application/json"]["schema"])
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(body)


def call(url: str, method: str, body: Any = None, key: str | None = KEY) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} | ({"x-api-key": key} if key else {})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def running() -> Iterator[RunningApi]:
    with stack_api(api_key=KEY, port=0, stack_name=f"contract-{uuid.uuid4().hex[:8]}") as api:
        yield api


def test_the_document_is_valid_openapi_3_1_and_lists_exactly_the_template_routes() -> None:
    validate_spec(DOC)
    assert DOC["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in DOC["paths"].items() for method in item}
    assert documented == {(r.path, r.method) for r in routes_from_template()}


def test_real_responses_of_every_route_fit_the_document(running: RunningApi) -> None:
    s3 = boto3.client("s3", endpoint_url=running.aws_endpoint)
    registry = ModelRegistry(running.stack.bucket, s3_client=s3)
    metadata = registry.get_metadata("churn", running.champion_version)
    status, card = call(f"{running.url}/models/churn", "GET")
    assert status == 200
    validate("/models/{name}", "GET", 200, card)
    assert card["model"] == {"name": "churn", "version": running.champion_version}
    assert [f["name"] for f in card["features"]] == [f["name"] for f in metadata["features"]]

    checked = [
        ("/predict", "POST", f"{running.url}/predict", card["example_request"], 200),
        ("/predict", "POST", f"{running.url}/predict", {"instances": [{"nope": 1}]}, 400),
        (
            "/predict",
            "POST",
            f"{running.url}/predict",
            {"instances": [{"tenure_months": "x"}]},
            400,
        ),
        (
            "/feedback",
            "POST",
            f"{running.url}/feedback",
            {"labels": [{"inference_id": "example-1", "label": "no"}]},
            202,
        ),
        ("/feedback", "POST", f"{running.url}/feedback", {"labels": [{"label": "no"}]}, 400),
        ("/models/{name}", "GET", f"{running.url}/models/nosuch", None, 404),
    ]
    for path, method, url, body, expected in checked:
        status, answer = call(url, method, body)
        assert status == expected, (path, body, answer)
        validate(path, method, status, answer)
    for path, method in (("/predict", "POST"), ("/models/{name}", "GET")):
        url = f"{running.url}{path.replace('{name}', 'churn')}"
        status, answer = call(url, method, {} if method == "POST" else None, key=None)
        assert status == 403
        validate(path, method, 403, answer)


def test_a_response_that_breaks_the_document_is_caught() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(
            "/predict", "POST", 200, {"model": {"name": "churn", "version": 0}, "predictions": []}
        )
    with pytest.raises(jsonschema.ValidationError):
        validate("/models/{name}", "GET", 200, {"model": {"name": "x", "version": 1}})


def test_every_request_format_gets_the_same_documented_answer(running: RunningApi) -> None:
    status, card = call(f"{running.url}/models/churn", "GET")
    assert status == 200
    row = card["example_request"]["instances"][0]
    names = list(row)
    optional = next(f["name"] for f in card["features"] if not f["required"])
    rows = [row, {**row, optional: None}]
    ids = ["format-1", "format-2"]
    bodies = {
        "instances": {"instances": rows},
        "dataframe_records": {"dataframe_records": rows},
        "dataframe_split": {
            "dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in rows]}
        },
        "inputs": {"inputs": {n: [r[n] for r in rows] for n in names}},
    }
    answers = {}
    for name, body in bodies.items():
        validate_request("/predict", "POST", {**body, "inference_ids": ids})
        status, answer = call(f"{running.url}/predict", "POST", {**body, "inference_ids": ids})
        assert status == 200, (name, answer)
        validate("/predict", "POST", 200, answer)
        answers[name] = answer
    assert all(answer == answers["instances"] for answer in answers.values())
    predictions = answers["instances"]["predictions"]
    assert "imputed" not in predictions[0] and predictions[1]["imputed"] == [optional]

    # A bad value in the split format is located in it, in the documented error shape.
    data = [[*[row[n] for n in names[:-1]], {"not": "a value"}]]
    bad = {"dataframe_split": {"columns": names, "data": data}}
    status, answer = call(f"{running.url}/predict", "POST", bad)
    assert status == 400
    validate("/predict", "POST", 400, answer)
    (detail,) = answer["error"]["details"]
    assert detail["path"] == f"dataframe_split.data[0][{len(names) - 1}]"
    assert (detail["row"], detail["field"]) == (0, names[-1])


def test_a_request_in_two_formats_breaks_the_document_and_the_api_alike(
    running: RunningApi,
) -> None:
    row = {"tenure_months": 1}
    body = {"instances": [row], "dataframe_records": [row]}
    with pytest.raises(jsonschema.ValidationError):
        validate_request("/predict", "POST", body)
    status, answer = call(f"{running.url}/predict", "POST", body)
    assert status == 400
    assert answer["error"]["details"] == [
        {"problem": "send the rows in one format, got instances and dataframe_records"}
    ]
