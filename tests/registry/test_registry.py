"""The S3 model registry on moto: versions, compare-and-swap aliases, history."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelops.errors import IntegrityError, ModelNotFoundError, NoChampionError, StaleAliasError
from modelops.registry import CHAMPION, ModelRegistry, default_actor

METADATA = {
    "task": "binary",
    "classes": ["no", "yes"],
    "features": [{"name": "x", "kind": "numeric"}],
}


def publish(registry: ModelRegistry, payload: bytes = b"onnx-bytes", name: str = "churn") -> int:
    return registry.publish(name, payload, METADATA, actor="test").version


def test_versions_are_numbered_from_one_and_immutable(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    assert registry.list_versions("churn") == []
    assert publish(registry, b"first") == 1
    assert publish(registry, b"second") == 2
    assert registry.list_versions("churn") == [1, 2]

    metadata = registry.get_metadata("churn", 2)
    assert metadata["version"] == 2 and metadata["name"] == "churn"
    assert (
        registry.get_model_bytes("churn", 2, expected_sha256=metadata["model_file"]["sha256"])
        == b"second"
    )
    # Immutable: S3 itself refuses to overwrite a published object.
    with pytest.raises(ClientError) as err:
        s3.put_object(
            Bucket=bucket, Key=ModelRegistry.model_key("churn", 1), Body=b"x", IfNoneMatch="*"
        )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_models_do_not_share_version_numbers(registry: ModelRegistry) -> None:
    assert publish(registry, name="churn") == 1
    assert publish(registry, name="fraud") == 1
    assert publish(registry, name="churn") == 2


def test_concurrent_publishes_get_distinct_versions(bucket: str) -> None:
    """Eight publishers racing on one model (each with its own client, as separate
    processes would be) all succeed, with eight distinct versions."""
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        registry = ModelRegistry(bucket, s3_client=boto3.client("s3"))
        barrier.wait()
        try:
            results.append(
                registry.publish("churn", f"model-{i}".encode(), METADATA, actor=f"w{i}").version
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(1, 9))


def test_reservation_collision_moves_to_next_number(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    # Another publisher claimed v1 between our listing and our claim: simulate by claiming
    # v1 and v2 directly, then listing sees only... the claim still must not reuse them.
    for n in (1, 2):
        s3.put_object(
            Bucket=bucket, Key=f"models/churn/v{n}/_reservation.json", Body=b"{}", IfNoneMatch="*"
        )
    assert registry.reserve_version("churn") == 3
    # Reserved-but-unpublished versions are not visible and their numbers are not reused.
    assert registry.list_versions("churn") == []
    assert publish(registry) == 4


def test_metadata_that_is_not_strict_json_costs_no_version_number(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    for bad in (float("nan"), float("inf"), 1e300 * 1e300):
        with pytest.raises(ValueError):
            registry.publish("churn", b"model", {"metrics": {"rmse": bad}}, actor="test")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="models/churn/").get("KeyCount") == 0
    assert publish(registry) == 1


def test_a_publish_that_fails_midway_stays_invisible_and_deletes_nothing(
    registry: ModelRegistry, s3: Any, bucket: str
) -> None:
    """metadata.json refused after model.onnx was written: the version is invisible, its
    number is skipped, and the registry never tries to delete (the policy forbids it)."""
    calls = writes_and_deletes(s3)

    def refuse_metadata(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].endswith("/metadata.json"):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "503"}}, "PutObject")

    s3.meta.events.register("before-parameter-build.s3.PutObject", refuse_metadata)
    with pytest.raises(ClientError):
        registry.publish("churn", b"model", METADATA, actor="test")
    s3.meta.events.unregister("before-parameter-build.s3.PutObject", refuse_metadata)
    assert registry.list_versions("churn") == []
    assert not [c for c in calls if c[0] == "DeleteObject"]
    assert publish(registry) == 2


def writes_and_deletes(s3: Any) -> list[tuple[str, str, dict[str, str]]]:
    """A spy on the client the registry uses: (operation, key, conditional headers sent)."""
    calls: list[tuple[str, str, dict[str, str]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        conditions = {k: params[k] for k in ("IfNoneMatch", "IfMatch") if k in params}
        calls.append((model.name, params.get("Key", ""), conditions))

    for operation in ("PutObject", "DeleteObject", "DeleteObjects", "CopyObject"):
        s3.meta.events.register(f"provide-client-params.s3.{operation}", record)
    return calls


def test_every_registry_write_is_conditional_and_nothing_is_deleted(
    registry: ModelRegistry, s3: Any
) -> None:
    """What the bucket policy demands (docs/REGISTRY.md), the registry code always sends:
    IfNoneMatch="*" on every version and history object, IfMatch or IfNoneMatch on aliases.
    Checked on the requests the code makes, not on moto's answers."""
    calls = writes_and_deletes(s3)
    publish(registry)
    publish(registry)
    first = registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    registry.set_alias("churn", CHAMPION, 2, expected=first, reason="better")
    registry.reserve_version("churn")
    operations = {c[0] for c in calls}
    assert operations == {"PutObject"}
    immutable = [c for c in calls if "/aliases/" not in c[1]]
    assert len(immutable) == 2 * 3 + 2 + 1  # 2 versions x 3 objects, 2 history records, 1 claim
    assert all(c[2] == {"IfNoneMatch": "*"} for c in immutable), immutable
    aliases = [c[2] for c in calls if "/aliases/" in c[1]]
    assert aliases == [{"IfNoneMatch": "*"}, {"IfMatch": first.etag}]


def test_corrupted_model_is_refused(registry: ModelRegistry, s3: Any, bucket: str) -> None:
    publish(registry, b"genuine")
    sha = registry.get_metadata("churn", 1)["model_file"]["sha256"]
    s3.put_object(Bucket=bucket, Key=ModelRegistry.model_key("churn", 1), Body=b"tampered")
    with pytest.raises(IntegrityError, match="sha256"):
        registry.get_model_bytes("churn", 1, expected_sha256=sha)


def test_missing_versions_and_aliases(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError, match="no published version 7"):
        registry.get_metadata("churn", 7)
    with pytest.raises(NoChampionError, match="no champion yet"):
        registry.resolve("churn")
    assert registry.get_alias("churn", "challenger") is None


def test_alias_compare_and_swap(registry: ModelRegistry) -> None:
    publish(registry)
    publish(registry)
    first = registry.set_alias(
        "churn", CHAMPION, 1, expected=None, reason="first model", actor="alice"
    )
    assert registry.resolve("churn") == 1 and first.sequence == 1

    # Two promoters both read v1; the first swap wins, the second is stale and writes nothing.
    read_by_bob = registry.get_alias("churn")
    read_by_carol = registry.get_alias("churn")
    assert read_by_bob is not None and read_by_carol is not None
    registry.set_alias("churn", CHAMPION, 2, expected=read_by_bob, reason="better auc", actor="bob")
    with pytest.raises(StaleAliasError, match="changed since it was read"):
        registry.set_alias(
            "churn", CHAMPION, 1, expected=read_by_carol, reason="rollback", actor="carol"
        )
    assert registry.resolve("churn") == 2

    # Creating an alias that already exists is stale too.
    with pytest.raises(StaleAliasError):
        registry.set_alias(
            "churn", CHAMPION, 1, expected=None, reason="blind write", actor="mallory"
        )


def test_alias_must_point_at_a_published_version(registry: ModelRegistry) -> None:
    publish(registry)
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("churn", CHAMPION, 5, expected=None, reason="typo")


def test_history_records_every_change(registry: ModelRegistry, s3: Any, bucket: str) -> None:
    for _ in range(3):
        publish(registry)
    state = registry.set_alias(
        "churn", CHAMPION, 1, expected=None, reason="first", actor="train:job-1"
    )
    state = registry.set_alias(
        "churn", CHAMPION, 2, expected=state, reason="promoted", actor="train:job-2"
    )
    registry.set_alias("churn", "challenger", 3, expected=None, reason="shadow", actor="alice")
    registry.set_alias(
        "churn", CHAMPION, 1, expected=state, reason="rollback: v2 degraded", actor="oncall"
    )

    history = registry.history("churn")
    assert [(h["alias"], h["previous_version"], h["version"]) for h in history] == [
        (CHAMPION, None, 1),
        (CHAMPION, 1, 2),
        ("challenger", None, 3),
        (CHAMPION, 2, 1),
    ]
    assert [h["updated_by"] for h in registry.history("churn", CHAMPION)] == [
        "train:job-1",
        "train:job-2",
        "oncall",
    ]
    assert all(h["reason"] and h["updated_at"].endswith("Z") for h in history)
    # Append-only: a history record cannot be overwritten.
    key = ModelRegistry.history_key("churn", CHAMPION, 1)
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"forged": True}), IfNoneMatch="*")


def test_conditional_get_reports_only_changes(registry: ModelRegistry) -> None:
    publish(registry)
    publish(registry)
    state = registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    assert registry.get_alias_if_changed("churn", CHAMPION, state.etag) is None
    registry.set_alias("churn", CHAMPION, 2, expected=state, reason="second")
    changed = registry.get_alias_if_changed("churn", CHAMPION, state.etag)
    assert changed is not None and changed.version == 2


def test_invalid_names_are_rejected(registry: ModelRegistry) -> None:
    from modelops.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="model name"):
        registry.list_versions("../etc")
    with pytest.raises(ValueError, match="alias"):
        registry.get_alias("churn", "Champion!")


@pytest.mark.parametrize("actor", [None, "ci@build-7"])
def test_a_version_records_who_published_it_given_or_defaulted(
    registry: ModelRegistry, actor: str | None
) -> None:
    version = registry.publish("churn", b"bytes", METADATA, actor=actor).version
    assert registry.get_metadata("churn", version)["published_by"] == (actor or default_actor())
