"""How the registry reads S3's errors when a store sends only the HTTP status (S3-compatible
stores, proxies) rather than S3's error code: 409 and 412 are a lost race (take the next
number), 404 is "not there", 304 is "unchanged", and every other status is an error that
propagates. Driven through the public API with botocore's Stubber answering each call."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from modelops.errors import ModelNotFoundError
from modelops.registry import ModelRegistry, default_actor

BUCKET = "registry-bucket"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModelRegistry, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = boto3.client("s3", region_name="us-east-1")
    with Stubber(s3) as stubber:
        yield ModelRegistry(BUCKET, s3_client=s3), stubber
        stubber.assert_no_pending_responses()


def _no_versions(stubber: Stubber) -> None:
    stubber.add_response("list_objects_v2", {"KeyCount": 0, "IsTruncated": False})


def _status_only(stubber: Stubber, method: str, status: int) -> None:
    stubber.add_client_error(method, service_error_code="", http_status_code=status)


def _reserved(stubber: Stubber, version: int) -> None:
    stubber.add_response(
        "put_object",
        {"ETag": '"e"'},
        {
            "Bucket": BUCKET,
            "Key": f"models/m/v{version}/_reservation.json",
            "Body": ANY,
            "ContentType": "application/json",
            "IfNoneMatch": "*",
        },
    )


@pytest.mark.parametrize("status", [409, 412])
def test_a_conflict_status_without_a_code_takes_the_next_number(
    stubbed: tuple[ModelRegistry, Stubber], status: int
) -> None:
    registry, stubber = stubbed
    _no_versions(stubber)
    _status_only(stubber, "put_object", status)
    _reserved(stubber, 2)
    assert registry.reserve_version("m", actor="ci") == 2


@pytest.mark.parametrize("status", [400, 403, 408, 410, 411, 413, 500])
def test_any_other_status_is_an_error_not_a_lost_race(
    stubbed: tuple[ModelRegistry, Stubber], status: int
) -> None:
    registry, stubber = stubbed
    _no_versions(stubber)
    _status_only(stubber, "put_object", status)
    with pytest.raises(ClientError):
        registry.reserve_version("m", actor="ci")


def test_the_reservation_gives_up_after_exactly_100_lost_races(
    stubbed: tuple[ModelRegistry, Stubber],
) -> None:
    registry, stubber = stubbed
    _no_versions(stubber)
    for _ in range(100):
        _status_only(stubber, "put_object", 412)
    with pytest.raises(RuntimeError, match="after 100 attempts"):
        registry.reserve_version("m", actor="ci")


def test_the_100th_attempt_still_reserves(stubbed: tuple[ModelRegistry, Stubber]) -> None:
    registry, stubber = stubbed
    _no_versions(stubber)
    for _ in range(99):
        _status_only(stubber, "put_object", 412)
    _reserved(stubber, 100)
    assert registry.reserve_version("m", actor="ci") == 100


def test_not_found_by_status_alone_is_a_missing_alias(
    stubbed: tuple[ModelRegistry, Stubber],
) -> None:
    registry, stubber = stubbed
    _status_only(stubber, "get_object", 404)
    assert registry.get_alias("m", "challenger") is None


@pytest.mark.parametrize("status", [403, 405, 500])
def test_other_read_errors_propagate(stubbed: tuple[ModelRegistry, Stubber], status: int) -> None:
    registry, stubber = stubbed
    _status_only(stubber, "get_object", status)
    with pytest.raises(ClientError):
        registry.get_alias("m", "challenger")


def test_unchanged_by_status_alone_is_no_change(stubbed: tuple[ModelRegistry, Stubber]) -> None:
    registry, stubber = stubbed
    _status_only(stubber, "get_object", 304)
    assert registry.get_alias_if_changed("m", "champion", '"etag"') is None


@pytest.mark.parametrize("status", [303, 305, 412])
def test_a_status_next_to_not_modified_is_an_error(
    stubbed: tuple[ModelRegistry, Stubber], status: int
) -> None:
    registry, stubber = stubbed
    _status_only(stubber, "get_object", status)
    with pytest.raises(ClientError):
        registry.get_alias_if_changed("m", "champion", '"etag"')


def test_a_champion_not_found_by_status_alone_is_model_not_found(
    stubbed: tuple[ModelRegistry, Stubber],
) -> None:
    registry, stubber = stubbed
    _status_only(stubber, "get_object", 404)
    with pytest.raises(ModelNotFoundError):
        registry.get_alias_if_changed("m", "champion", None)


@pytest.mark.parametrize("actor", [None, "ci@build-7"])
def test_the_reservation_records_who_reserved_it(
    stubbed: tuple[ModelRegistry, Stubber], actor: str | None
) -> None:
    registry, stubber = stubbed
    _no_versions(stubber)
    bodies: list[bytes] = []
    stubber.client.meta.events.register(  # the request the registry sends, on its way out
        "before-parameter-build.s3.PutObject", lambda params, **_: bodies.append(params["Body"])
    )
    _reserved(stubber, 1)
    registry.reserve_version("m", actor=actor)
    (body,) = bodies
    assert json.loads(body)["reserved_by"] == (actor or default_actor())
