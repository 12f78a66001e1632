"""Races the registry must lose gracefully: another writer creates the very object the
registry is about to create. The registry's own conditional header (IfNoneMatch="*") is what
makes it lose; without it the registry would silently replace the other writer's object.
The other writer goes first from inside the registry's own request (a botocore hook), so
the race is exact, not timing-dependent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelops.errors import StaleAliasError
from modelops.registry import CHAMPION, ModelRegistry

METADATA = {
    "task": "binary",
    "classes": ["no", "yes"],
    "features": [{"name": "x", "kind": "numeric"}],
}


def first_writer_on(
    s3: Any, bucket: str, key_suffix: str, body: bytes
) -> Callable[[dict[str, Any]], None]:
    """Before the registry's PutObject of a key ending in `key_suffix` is sent, another
    client (another process) creates that key with `body`, once."""
    other = boto3.client("s3")
    done: list[str] = []

    def race(params: dict[str, Any], **_: Any) -> None:
        key = params["Key"]
        if key.endswith(key_suffix) and not done:
            done.append(key)
            other.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")

    s3.meta.events.register("before-parameter-build.s3.PutObject", race)
    return race


def body_of(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_a_model_file_created_first_by_another_writer_is_kept_and_the_publisher_moves_on(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    first_writer_on(s3, bucket, "/v1/model.onnx", b"the other writer's model")
    published = registry.publish("churn", b"ours", METADATA, actor="test")
    assert published.version == 2
    assert body_of(s3, bucket, ModelRegistry.model_key("churn", 1)) == b"the other writer's model"
    assert body_of(s3, bucket, ModelRegistry.model_key("churn", 2)) == b"ours"


def test_metadata_created_first_by_another_writer_is_never_replaced(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    theirs = json.dumps({"written_by": "the other writer"}).encode()
    first_writer_on(s3, bucket, "/v1/metadata.json", theirs)
    with pytest.raises(ClientError) as caught:
        registry.publish("churn", b"ours", METADATA, actor="test")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert body_of(s3, bucket, ModelRegistry.metadata_key("churn", 1)) == theirs


def test_a_reservation_created_first_by_another_writer_moves_the_claim_to_the_next_number(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    first_writer_on(s3, bucket, "/v1/_reservation.json", b'{"reserved_by": "other"}')
    assert registry.reserve_version("churn", actor="test") == 2
    assert json.loads(body_of(s3, bucket, "models/churn/v1/_reservation.json")) == {
        "reserved_by": "other"
    }


def test_a_history_record_created_first_by_another_writer_is_never_replaced(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    registry.publish("churn", b"model", METADATA, actor="test")
    forged = b'{"forged": true}'
    first_writer_on(s3, bucket, f"/history/{CHAMPION}/00000001.json", forged)
    key = ModelRegistry.history_key("churn", CHAMPION, 1)
    assert key.endswith(f"/history/{CHAMPION}/00000001.json"), key
    with pytest.raises(ClientError) as caught:
        registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert body_of(s3, bucket, key) == forged


def test_an_alias_created_first_by_another_writer_makes_the_blind_create_stale(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    registry.publish("churn", b"model", METADATA, actor="test")
    registry.publish("churn", b"model 2", METADATA, actor="test")
    theirs = json.dumps({"version": 2, "sequence": 1}).encode()
    first_writer_on(s3, bucket, f"/aliases/{CHAMPION}.json", theirs)
    with pytest.raises(StaleAliasError):
        registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    assert body_of(s3, bucket, ModelRegistry.alias_key("churn", CHAMPION)) == theirs
