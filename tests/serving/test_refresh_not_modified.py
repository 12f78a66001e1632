"""The served model's refresh is a conditional GET: the alias ETag the cache holds goes out as
If-None-Match, S3 answers 304 with no body, and the model is not downloaded again. Checked on
the HTTP requests and responses of the client the cache uses, not on call counts."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from modelops.registry import CHAMPION, ModelRegistry
from modelops.serving.model_cache import ModelCache
from tests.conftest import BUCKET
from tests.models import publish_trained


class Wire:
    """Every GetObject the client sends: (key, If-None-Match header, HTTP status)."""

    def __init__(self, s3: Any) -> None:
        self.gets: list[tuple[str, str | None, int]] = []
        self._pending: list[tuple[str, str | None]] = []
        s3.meta.events.register("before-call.s3.GetObject", self._before)
        s3.meta.events.register("after-call.s3.GetObject", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        # Virtual-hosted or path-style: the key is what follows the bucket, if named.
        key = unquote(params["url_path"].split("?", 1)[0]).lstrip("/")
        key = key.removeprefix(f"{BUCKET}/")
        self._pending.append((key, params["headers"].get("If-None-Match")))

    def _after(self, http_response: Any, **_: Any) -> None:
        key, condition = self._pending.pop()
        self.gets.append((key, condition, http_response.status_code))

    def take(self) -> list[tuple[str, str | None, int]]:
        taken, self.gets = self.gets, []
        return taken


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wire(s3: Any) -> Wire:
    return Wire(s3)


def cache_of(registry: ModelRegistry, clock: Clock, refresh_seconds: float = 30) -> ModelCache:
    return ModelCache(
        registry, "churn", alias=CHAMPION, pinned_version=None,
        refresh_seconds=refresh_seconds, clock=clock,
    )  # fmt: skip


ALIAS = ModelRegistry.alias_key("churn", CHAMPION)


def test_an_unchanged_alias_is_a_304_carrying_the_etag_and_downloads_nothing(
    registry: ModelRegistry, wire: Wire
) -> None:
    version = publish_trained(registry, "binary")["version"]
    etag = registry.get_alias("churn")
    assert etag is not None
    clock = Clock()
    cache = cache_of(registry, clock)
    wire.take()
    first = cache.get()
    cold = wire.take()
    assert cold[0] == (ALIAS, None, 200)  # the cold start reads the alias unconditionally
    assert [k for k, _, _ in cold[1:]] == [
        ModelRegistry.metadata_key("churn", version),
        ModelRegistry.model_key("churn", version),
    ]

    clock.now += 30  # exactly the refresh interval: time to check
    assert cache.get() is first
    assert wire.take() == [(ALIAS, etag.etag, 304)]

    clock.now += 29.999  # just below the interval: no request at all
    assert cache.get() is first
    assert wire.take() == []


def test_a_moved_alias_is_a_200_and_only_then_the_new_version_is_downloaded(
    registry: ModelRegistry, wire: Wire
) -> None:
    publish_trained(registry, "binary")
    old = registry.get_alias("churn")
    assert old is not None
    clock = Clock()
    cache = cache_of(registry, clock)
    cache.get()
    v2 = publish_trained(registry, "binary")["version"]  # promoted: the alias moves
    wire.take()
    clock.now += 30
    assert cache.get().version == v2
    gets = wire.take()
    assert gets[0] == (ALIAS, old.etag, 200)
    assert [k for k, _, status in gets[1:] if status == 200] == [
        ModelRegistry.metadata_key("churn", v2),
        ModelRegistry.model_key("churn", v2),
    ]
    # The next check sends the new alias's ETag, not the old one.
    new = registry.get_alias("churn")
    assert new is not None and new.etag != old.etag
    wire.take()
    clock.now += 30
    cache.get()
    assert wire.take() == [(ALIAS, new.etag, 304)]
