"""The Glue tables of template.yaml read the JSON Lines the stack really writes: captures
and feedback served on embedded AWS, read back with exactly the column types, location
template and partition format the tables declare (what Athena would do with them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.provision import LocalStack, provision_stack
from embedded_aws.tables import GlueTable, HiveType, cast, parse_type
from modelops.registry import ModelRegistry
from tests.models import publish_trained


def test_parse_nested_types() -> None:
    parsed = parse_type("struct<a:int,b:map<string,double>,c:array<string>>")
    assert parsed == HiveType(
        "struct",
        (
            ("a", HiveType("int")),
            ("b", HiveType("map", (("", HiveType("string")), ("", HiveType("double"))))),
            ("c", HiveType("array", (("", HiveType("string")),))),
        ),
    )
    with pytest.raises(ValueError, match="unsupported"):
        parse_type("struct<a:decimal>")
    with pytest.raises(ValueError, match="expected '>'"):
        parse_type("map<string,int")


@pytest.mark.parametrize(
    ("value", "hive", "ok"),
    [
        (2**31 - 1, "int", True),
        (2**31, "int", False),  # just past int: the table would need bigint
        (2**31, "bigint", True),
        (True, "int", False),
        (1.5, "int", False),
        (3, "double", True),
        ("3", "double", False),
        (12, "string", True),  # the JSON SerDe reads a number into a string column
        ({"a": 1}, "string", False),
        ({"x": 0.5}, "map<string,double>", True),
        ({"x": "high"}, "map<string,double>", False),
    ],
)
def test_cast_accepts_exactly_what_the_declared_type_holds(value: Any, hive: str, ok: bool) -> None:
    if ok:
        cast(value, parse_type(hive), "c", set())
    else:
        with pytest.raises(TypeError):
            cast(value, parse_type(hive), "c", set())


def test_undeclared_fields_are_reported() -> None:
    extra: set[str] = set()
    cast({"Name": "n", "surprise": 1}, parse_type("struct<name:string>"), "model", extra)
    assert extra == {"model.surprise"}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield


CASES = {
    "binary": ({"label": "no"}, "churn"),
    "regression": ({"value": 140.5}, "diabetes"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_captures_and_feedback_read_with_the_declared_types(aws: None, kind: str) -> None:
    label, name = CASES[kind]
    stack: LocalStack = provision_stack(parameters={"CaptureSink": "firehose", "ModelName": name})
    s3 = boto3.client("s3")
    metadata = publish_trained(ModelRegistry(stack.bucket, s3_client=s3), kind, promote=True)
    from modelops.model_card import example_row

    # The second row leaves an optional feature null where the model has one (the churn
    # model does; every feature of the diabetes model is required).
    optional = [f["name"] for f in metadata["features"] if not f["required"]]
    rows = [example_row(metadata), {**example_row(metadata), **dict.fromkeys(optional[:1])}]
    ids = [f"{kind}-1", f"{kind}-2"]
    predict = LocalFunction.from_stack(stack, "PredictFunction")
    answer = predict.invoke({"instances": rows, "inference_ids": ids})
    feedback = LocalFunction.from_stack(stack, "FeedbackFunction")
    assert feedback.invoke({"labels": [{"inference_id": ids[0], **label}]}) == {"accepted": 1}

    captures = GlueTable.from_template("CapturesTable", stack.refs).read(s3)
    assert captures.undeclared == set(), "fields the table does not declare"
    assert len(captures.rows) == 2 and len(captures.keys) >= 1
    by_id = {r["eventmetadata"]["inferenceid"]: r for r in captures.rows}
    assert set(by_id) == set(ids)
    first = by_id[ids[0]]
    assert first["model"] == {"name": name, "version": 1}
    assert first["hour"].count("/") == 3  # yyyy/MM/dd/HH
    if kind == "regression":
        assert first["output"]["value"] == pytest.approx(answer["predictions"][0]["value"])
    else:
        probabilities = first["output"]["probabilities"]
        assert set(probabilities) == {"no", "yes"}
        assert all(isinstance(p, float) for p in probabilities.values())
    # a histogram's input: the numeric feature's text casts back to the number sent
    numeric = next(f["name"] for f in metadata["features"] if f["kind"] == "numeric")
    assert float(first["input"][numeric]) == pytest.approx(float(rows[0][numeric]))

    feedback_rows = GlueTable.from_template("FeedbackTable", stack.refs).read(s3)
    assert feedback_rows.undeclared == set()
    (record,) = feedback_rows.rows
    assert record["inferenceid"] == ids[0]
    assert (record["value"], record["label"]) == (
        (140.5, None) if kind == "regression" else (None, "no")
    )
