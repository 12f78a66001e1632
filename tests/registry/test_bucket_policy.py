"""The registry's immutability as template.yaml declares it: bucket policy and training role.

moto stores bucket policies but does not evaluate them, so these tests evaluate the
template's own statements (resolved as CloudFormation would) with a small evaluator of the
IAM rules they use: an explicit Deny wins, otherwise an Allow is needed; `*` in a resource
matches any characters, `/` included; `Null` is "true" when the request lacks the key.
The registry code's side (it always sends the headers) is
tests/registry/test_registry.py::test_every_registry_write_is_conditional_and_nothing_is_deleted.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from embedded_aws.template import load_template, resolve, resource

BUCKET_ARN = "arn:aws:s3:::modelops-bucket"
REFS = {"ModelOpsBucket": "modelops-bucket", "ModelOpsBucket.Arn": BUCKET_ARN}
ADMIN = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]


def statements(logical_id: str) -> list[dict[str, Any]]:
    doc = load_template()
    props = resolve(resource(logical_id, doc)["Properties"], REFS, doc)
    if "PolicyDocument" in props:
        return list(props["PolicyDocument"]["Statement"])
    return [s for policy in props["Policies"] for s in policy["PolicyDocument"]["Statement"]]


BUCKET_POLICY = statements("ModelOpsBucketPolicy")
TRAINING_ROLE = statements("TrainingJobRole")


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, pairs in condition.items():
        for key, expected in pairs.items():
            if operator == "Null":
                if (key not in context) != (str(expected).lower() == "true"):
                    return False
            elif operator == "Bool":
                if context.get(key) != str(expected).lower():
                    return False
            elif operator == "StringLike":
                if not any(fnmatch.fnmatchcase(context.get(key, ""), p) for p in _listed(expected)):
                    return False
            else:  # an operator this evaluator does not know must not pass silently
                raise NotImplementedError(f"condition operator {operator}")
    return True


def _matches(statement: dict[str, Any], action: str, arn: str, context: dict[str, str]) -> bool:
    actions = _listed(statement["Action"])
    if not any(fnmatch.fnmatchcase(action, a) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(arn, r) for r in _listed(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), context)


def allowed(identity: list[dict[str, Any]], action: str, key: str, **headers: str) -> bool:
    """Would S3 let a principal with `identity` policies do `action` on `key`?"""
    arn = f"{BUCKET_ARN}/{key}"
    context = {"aws:SecureTransport": "true"}
    context.update({f"s3:{name.replace('_', '-')}": value for name, value in headers.items()})
    if any(s["Effect"] == "Deny" and _matches(s, action, arn, context) for s in BUCKET_POLICY):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, arn, context) for s in identity)


VERSION_KEYS = [
    "models/churn/v1/model.onnx",
    "models/churn/v1/metadata.json",
    "models/churn/v12/_reservation.json",
    "models/churn/history/champion/00000003.json",
]


@pytest.mark.parametrize("key", VERSION_KEYS)
def test_the_training_role_creates_version_objects_but_never_replaces_them(key: str) -> None:
    assert allowed(TRAINING_ROLE, "s3:PutObject", key, if_none_match="*")
    assert not allowed(TRAINING_ROLE, "s3:PutObject", key)  # a blind overwrite
    assert not allowed(TRAINING_ROLE, "s3:PutObject", key, if_match='"etag"')  # replace by ETag
    assert not allowed(TRAINING_ROLE, "s3:DeleteObject", key)


@pytest.mark.parametrize("key", VERSION_KEYS)
def test_not_even_an_administrator_overwrites_or_deletes_a_version(key: str) -> None:
    assert allowed(ADMIN, "s3:PutObject", key, if_none_match="*")
    assert not allowed(ADMIN, "s3:PutObject", key)
    assert not allowed(ADMIN, "s3:PutObject", key, if_match='"etag"')
    assert not allowed(ADMIN, "s3:DeleteObject", key)
    assert not allowed(ADMIN, "s3:DeleteObjectVersion", key)


@pytest.mark.parametrize("model", ["churn", "vendor-churn", "v2"])
def test_aliases_move_only_by_compare_and_swap(model: str) -> None:
    """Model names starting with "v" must not be mistaken for version folders."""
    key = f"models/{model}/aliases/champion.json"
    assert allowed(ADMIN, "s3:PutObject", key, if_match='"etag"')
    assert allowed(ADMIN, "s3:PutObject", key, if_none_match="*")
    assert not allowed(ADMIN, "s3:PutObject", key)
    assert allowed(ADMIN, "s3:DeleteObject", key)  # an operator may drop an alias


def test_the_training_role_moves_its_aliases_by_compare_and_swap() -> None:
    key = "models/churn/aliases/champion.json"
    assert allowed(TRAINING_ROLE, "s3:PutObject", key, if_match='"etag"')
    assert allowed(TRAINING_ROLE, "s3:PutObject", key, if_none_match="*")
    assert not allowed(TRAINING_ROLE, "s3:PutObject", key)


def test_the_training_role_writes_only_its_own_model_and_the_rest_of_the_bucket_is_untouched() -> (
    None
):
    assert not allowed(
        TRAINING_ROLE, "s3:PutObject", "models/other/v1/model.onnx", if_none_match="*"
    )
    assert not allowed(TRAINING_ROLE, "s3:PutObject", "reports/churn/x.json")
    # Outside models/, overwrites stay possible (reports are rewritten by re-runs).
    assert allowed(ADMIN, "s3:PutObject", "reports/churn/retraining/last.json")
    assert allowed(ADMIN, "s3:DeleteObject", "capture/churn/2026/11/26/12/x.jsonl")
    assert not any(
        "s3:DeleteObject" in _listed(s["Action"]) for s in TRAINING_ROLE if s["Effect"] == "Allow"
    )


def test_insecure_transport_is_denied_everywhere() -> None:
    insecure = [
        s
        for s in BUCKET_POLICY
        if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    ]
    assert insecure and insecure[0]["Effect"] == "Deny"
    assert _matches(
        insecure[0],
        "s3:GetObject",
        f"{BUCKET_ARN}/models/churn/v1/model.onnx",
        {"aws:SecureTransport": "false"},
    )


def test_the_bucket_keeps_every_object_version() -> None:
    props = resource("ModelOpsBucket")["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
